"""A gym-like, batched environment whose dynamics are a learned transition model.

The mbrl-lib ``ModelEnv`` habit: a planner (or the adversary) talks to ``reset``/``step``
and never to the model, so the same code runs on real or learned dynamics. Everything is a
batched torch tensor: ``B`` parallel imagined environments.

- ``model.predict(obs B x O, act B x A) -> (mean B x O, var B x O)`` gives the next state in
  raw units (see design.md, ``advex.models``). Any object with that method works, so tests can
  pass exact dynamics.
- ``reward_fn(act B x A, next_obs B x O) -> B`` and ``term_fn(act, next_obs) -> B`` (bool) are
  the task's pure torch functions (``TaskSpec.reward_fn`` / ``term_fn``).

Propagation (PETS, Chua et al. 2018) says which model produces each row's next state:
``"mean"``: the model's own prediction (for an ensemble, the moments of the elite mixture);
``"ts1"``: trajectory sampling with a fresh elite member per row at every step;
``"tsinf"``: one elite member per row for the whole rollout (drawn at ``reset``). The TS
modes need an ensemble (``predict_by_member``); members are spread evenly over the rows in a
random order from ``generator``, and each member runs only on its own rows. The TS modes ask
the model for the mean only unless ``sample=True``, and skip its per-call input checks (this env
builds the inputs), so a diverged member's NaN reaches the return, which the optimisers rank
worst, instead of stopping the plan.

Deterministic rollouts (``sample=False``, ``"mean"`` or ``"tsinf"``) run each distinct (start,
actions, member) row once: MPC's particles of one candidate repeat (see :meth:`rollout`).

Termination is absorbing: once a row terminates its observation freezes, it stays terminated,
and its later rewards are masked to 0 (the reward of the terminating step itself counts, as
in the real env). Freezing also keeps a diverged model's NaNs out of finished rows.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import torch

from advex.types import RewardFn, TermFn


class ModelEnvError(ValueError):
    """Wrong shapes or use before ``reset`` in a :class:`ModelEnv`."""


class PredictsNextState(Protocol):
    """What :class:`ModelEnv` needs from a model: ``predict(obs, act) -> (mean, var)``."""

    def predict(
        self, obs: torch.Tensor, act: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


Propagation = Literal["mean", "ts1", "tsinf"]
PROPAGATIONS: tuple[str, ...] = ("mean", "ts1", "tsinf")


class ModelEnv:
    """Batched imagined environment ``s' ~ model(s, a)``.

    ``sample=False`` steps to the predicted mean; ``sample=True`` draws
    ``s' ~ N(mean, var)`` with ``generator`` (a fresh ``torch.Generator`` seeded 0 when None,
    never the global RNG). ``propagation``: see the module docstring.
    """

    def __init__(
        self,
        model: PredictsNextState,
        reward_fn: RewardFn,
        term_fn: TermFn | None = None,
        sample: bool = False,
        generator: torch.Generator | None = None,
        propagation: Propagation = "mean",
    ) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"model must have a predict(obs, act) method, got {type(model)}")
        if propagation not in PROPAGATIONS:
            raise ValueError(
                f"unknown propagation {propagation!r}; valid: {', '.join(PROPAGATIONS)}"
            )
        if propagation != "mean" and not callable(getattr(model, "predict_by_member", None)):
            raise ValueError(
                f"propagation {propagation!r} samples ensemble members, but "
                f"{type(model).__name__} has none; use 'mean'"
            )
        self.propagation = propagation
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable (act, next_obs) -> reward")
        if term_fn is not None and not callable(term_fn):
            raise TypeError("term_fn must be None or callable (act, next_obs) -> bool")
        self.model = model
        self.reward_fn = reward_fn
        self.term_fn = term_fn
        self.sample = bool(sample)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self._obs: torch.Tensor | None = None
        self._terminated: torch.Tensor | None = None
        #: The rows' members as MemberGroups (TS modes): fixed from ``reset`` (tsinf), redrawn
        #: every step (ts1); None for "mean"
        self._groups: Any = None
        #: Float64 projection that groups repeated rows in :meth:`_distinct_rows`
        self._projection: torch.Tensor | None = None
        #: The last even layout of rows over the elites, re-dealt by later draws
        self._layout: Any = None

    @property
    def members(self) -> torch.Tensor | None:
        """``B`` member per row in the TS modes (the last step's for ts1); None for "mean"."""
        return None if self._groups is None else self._groups.members

    def _draw_members(self, rows: int, device: torch.device) -> Any:
        """``rows`` rows dealt evenly to the elite members in a random order (a permutation from
        ``generator``), grouped by member for ``predict_by_member``. The layout is built once
        per row count and elite set; later draws only re-deal it (TS-1 draws every step)."""
        from advex.models.ensemble import MemberGroups

        elite_idx = torch.as_tensor(self.model.elite_idx)  # type: ignore[attr-defined]
        elites = torch.sort(elite_idx.to(device)).values
        order = torch.randperm(rows, generator=self.generator).to(device)
        layout = self._layout
        if (layout is None or layout.rows != rows or layout.used.device != elites.device
                or not torch.equal(layout.used, elites)):
            self._layout = MemberGroups.spread_evenly(elites, order)
            return self._layout
        return layout.redealt(order)

    @property
    def obs(self) -> torch.Tensor:
        """Current ``B x O`` observations."""
        if self._obs is None:
            raise ModelEnvError("ModelEnv: call reset(obs_batch) before step()")
        return self._obs

    @property
    def terminated(self) -> torch.Tensor:
        """``B`` bool: rows that have terminated since the last reset."""
        if self._terminated is None:
            raise ModelEnvError("ModelEnv: call reset(obs_batch) before step()")
        return self._terminated

    def reset(self, obs_batch: torch.Tensor) -> torch.Tensor:
        """Start ``B`` imagined episodes from ``obs_batch`` (``B x O``); returns a float32 copy."""
        obs = torch.as_tensor(obs_batch)
        if obs.ndim != 2:
            raise ModelEnvError(
                f"ModelEnv.reset: obs_batch must be B x O, got shape {tuple(obs.shape)}"
            )
        if not bool(torch.isfinite(obs).all()):
            raise ModelEnvError("ModelEnv.reset: obs_batch contains NaN or inf")
        self._obs = obs.to(torch.float32).clone()
        self._terminated = torch.zeros(obs.shape[0], dtype=torch.bool, device=obs.device)
        tsinf = self.propagation == "tsinf"
        self._groups = self._draw_members(obs.shape[0], obs.device) if tsinf else None
        return self._obs.clone()

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Advance all rows by one step.

        ``actions`` ``B x A`` -> ``(next_obs B x O, reward B, terminated B bool)``; rows already
        terminated keep their observation and get reward 0.
        """
        obs = self.obs
        act = torch.as_tensor(actions, device=obs.device)
        if act.ndim != 2 or act.shape[0] != obs.shape[0]:
            raise ModelEnvError(
                f"ModelEnv.step: actions must be B x A with B = {obs.shape[0]}, "
                f"got shape {tuple(act.shape)}"
            )
        act = act.to(torch.float32)
        if self.propagation == "mean":
            mean, var = self.model.predict(obs, act)
        else:
            if self.propagation == "ts1":
                self._groups = self._draw_members(obs.shape[0], obs.device)
            assert self._groups is not None  # drawn by reset (tsinf) or just now (ts1)
            mean, var = self.model.predict_by_member(  # type: ignore[attr-defined]
                obs, act, self._groups, checked=False, with_var=self.sample
            )
        if tuple(mean.shape) != tuple(obs.shape):
            raise ModelEnvError(
                f"ModelEnv.step: model predicted shape {tuple(mean.shape)}, "
                f"expected {tuple(obs.shape)}"
            )
        predicted = mean
        if self.sample:
            if var is None or tuple(var.shape) != tuple(mean.shape):
                raise ModelEnvError(
                    "ModelEnv.step: sample=True needs a variance with the mean's shape, got "
                    f"{None if var is None else tuple(var.shape)}"
                )
            noise = torch.randn(
                mean.shape, generator=self.generator, dtype=mean.dtype
            ).to(mean.device)
            predicted = mean + noise * torch.sqrt(torch.clamp(var, min=0.0))

        was_terminated = self.terminated
        next_obs = torch.where(was_terminated.unsqueeze(-1), obs, predicted)
        reward = torch.as_tensor(self.reward_fn(act, next_obs)).reshape(-1)
        if reward.shape[0] != obs.shape[0]:
            raise ModelEnvError(
                f"ModelEnv.step: reward_fn returned {reward.shape[0]} values for "
                f"{obs.shape[0]} rows"
            )
        reward = torch.where(was_terminated, torch.zeros_like(reward), reward)
        if self.term_fn is not None:
            newly = torch.as_tensor(self.term_fn(act, next_obs)).reshape(-1).to(torch.bool)
            terminated = was_terminated | newly
        else:
            terminated = was_terminated.clone()
        self._obs = next_obs
        self._terminated = terminated
        return next_obs, reward, terminated.clone()

    def _distinct_rows(
        self, obs0: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(first, inverse)`` when some rows of a deterministic rollout repeat: rows
        ``first`` are the distinct (start, actions, member) rows and row ``i`` repeats row
        ``first[inverse[i]]``; None when all rows differ.

        Rows are grouped by a float64 random projection of their keys (a 1-D sort, not a
        lexicographic ``unique(dim=0)``), then every row is compared with its representative
        in full, so a projection collision only costs the saving, never a wrong return.
        """
        rows = obs0.shape[0]
        if rows < 2:
            return None
        parts = [obs0, actions.reshape(rows, -1)]
        if self._groups is not None:
            parts.append(self._groups.members.reshape(rows, 1))
        keys = torch.cat([part.to(torch.float64) for part in parts], dim=1)
        if self._projection is None or len(self._projection) != keys.shape[1]:
            fixed = torch.Generator().manual_seed(0)  # not self.generator: its draws stay put
            self._projection = torch.randn(keys.shape[1], dtype=torch.float64, generator=fixed)
        distinct, inverse = torch.unique(keys @ self._projection.to(keys.device),
                                         return_inverse=True)
        if len(distinct) == rows:
            return None
        index = torch.arange(rows, device=keys.device)
        first = torch.full((len(distinct),), rows, device=keys.device).scatter_reduce(
            0, inverse, index, reduce="amin"
        )
        bits = keys.view(torch.int64)  # bit patterns: -0.0 and 0.0 differ, as they may downstream
        if not torch.equal(bits[first][inverse], bits):
            return None
        return first, inverse

    def rollout(
        self, obs0: torch.Tensor, actions: torch.Tensor, discount: float = 1.0
    ) -> torch.Tensor:
        """Total (discounted) return of open-loop action sequences.

        ``obs0`` ``B x O``, ``actions`` ``B x H x A`` -> ``B`` returns
        ``sum_t discount^t r_t``, rewards masked after termination. Resets this env.

        When the rollout is deterministic (``sample=False`` and ``"mean"`` or ``"tsinf"``
        propagation; the model's ``predict`` is a function of its inputs), rows with the same
        start, actions and member follow the same trajectory, so each distinct row runs once
        and its return is shared: MPC's particles of one candidate on one elite, 4 of 5 rows
        with 20 particles over 5 elites. The members are drawn for every row first, so the
        random stream and each row's member are what they would be without sharing. Rows are
        never shared when gradients must reach ``obs0`` or ``actions``, so each row gets its
        own. ``reward_fn`` and ``term_fn`` must work row by row (they see the distinct rows).
        """
        acts = torch.as_tensor(actions)
        obs0 = torch.as_tensor(obs0)
        if acts.ndim != 3:
            raise ModelEnvError(
                f"ModelEnv.rollout: actions must be B x H x A, got shape {tuple(acts.shape)}"
            )
        if obs0.ndim != 2 or obs0.shape[0] != acts.shape[0]:
            raise ModelEnvError(
                f"ModelEnv.rollout: obs0 must be B x O with B = {acts.shape[0]} "
                f"(one start per sequence), got shape {tuple(obs0.shape)}"
            )
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.reset(obs0)
        acts = acts.to(self.obs.device)
        needs_input_grads = torch.is_grad_enabled() and (acts.requires_grad or obs0.requires_grad)
        deterministic = not self.sample and self.propagation != "ts1"
        shared = (self._distinct_rows(self.obs, acts)
                  if deterministic and not needs_input_grads else None)
        all_groups = self._groups
        if shared is not None:
            from advex.models.ensemble import MemberGroups

            first, _ = shared
            self._obs, self._terminated, acts = self.obs[first], self.terminated[first], acts[first]
            if all_groups is not None:
                self._groups = MemberGroups.of(all_groups.members[first])
        total = torch.zeros(acts.shape[0], dtype=torch.float32, device=obs0.device)
        weight = 1.0
        for t in range(acts.shape[1]):
            _, reward, _ = self.step(acts[:, t])
            total = total + weight * reward.to(torch.float32)
            weight *= discount
        if shared is not None:  # every row again, as without sharing
            _, inverse = shared
            self._obs, self._terminated = self.obs[inverse], self.terminated[inverse]
            self._groups, total = all_groups, total[inverse]
        return total
