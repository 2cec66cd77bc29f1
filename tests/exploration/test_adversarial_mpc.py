"""``adversarial-mpc``: a long horizon finds the hard region that only deliberate motion
reaches; a short one does not; imagined falls forfeit the rest of the plan. (Its resume
through the experiment loop: tests/engine/test_compare.py.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from slider import SLIDER_SPEC

from advex.exploration.adversarial_mpc import AdversarialMPC, DisagreementRollouts
from advex.exploration.strategy import make_strategy

#: The hard region: x > FAR, reached only after >= 20 steps of full push from x = 0 (STEP a
#: step). On the way the members' disagreement grows slowly (0.3 x); a trap just left of the
#: start (x < TRAP) pays at once and ends the episode (a fall).
FAR = 1.0
STEP = 0.05
TRAP = -0.02


def _utility(x: torch.Tensor) -> torch.Tensor:
    ramp = torch.where(x > FAR, torch.ones_like(x), 0.3 * x.clamp_min(0.0))
    return torch.where(x < TRAP, torch.ones_like(x), ramp)


class RegionDisagreement:
    """A toy ensemble on ``[x, v]``: every member moves ``x`` by ``STEP * a``, and the three
    add ``-d, 0, +d`` to it, with ``d`` set so that their variance is ``_utility`` of the
    predicted ``x`` (their mean is the true motion)."""

    def predict_members(self, obs: torch.Tensor, act: torch.Tensor):  # type: ignore[no-untyped-def]
        nxt = obs.clone()
        nxt[:, 0] = obs[:, 0] + STEP * act[:, 0]
        spread = (1.5 * _utility(nxt[:, 0])).sqrt()  # population variance of -d, 0, d: 2d²/3
        offsets = torch.tensor([-1.0, 0.0, 1.0])[:, None, None]
        means = nxt.unsqueeze(0) + offsets * spread[None, :, None]
        return means, torch.zeros_like(means)


def _falls(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return next_obs[:, 0] < TRAP


#: The slider with the trap as its termination (``env`` rules).
TRAP_SPEC = dataclasses.replace(SLIDER_SPEC, term_fn=_falls)


def _late_share_in_region(horizon: int, steps: int = 80, seed: int = 0) -> float:
    """Plays ``steps`` real steps of the toy (a fall restarts at x = 0) and returns the share
    of the second half spent in the hard region."""
    strategy = make_strategy("adversarial-mpc", TRAP_SPEC,
                             {"horizon": horizon, "candidates": 64, "iterations": 3}, seed)
    assert isinstance(strategy, AdversarialMPC)
    strategy.bind_model(RegionDisagreement())
    strategy.agent = strategy._planner(seed)
    state = np.zeros((1, 2), dtype=np.float32)
    xs = []
    for _ in range(steps):
        action = strategy.act(state)
        assert action.shape == (1, 1) and np.all(np.abs(action) <= 1.0)
        state[0, 0] += STEP * float(action[0, 0])
        xs.append(float(state[0, 0]))
        if state[0, 0] < TRAP:  # fell: a new episode
            state[:] = 0.0
            strategy.agent.reset()
    late = np.array(xs[steps // 2:])
    return float(np.mean(late > FAR))


def test_a_long_horizon_reaches_the_far_region_and_a_short_one_does_not() -> None:
    assert _late_share_in_region(horizon=30) > 0.8  # sees past the trap to x > 1
    assert _late_share_in_region(horizon=3) == 0.0  # takes the trap's quick payoff and falls


def test_an_imagined_fall_forfeits_the_rest_of_the_plan() -> None:
    model = RegionDisagreement()
    start = torch.tensor([[FAR + 0.5, 0.0]])
    push = torch.ones(1, 10, 1)

    def falls_beyond(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return next_obs[:, 0] > FAR + 0.6  # terminal two steps in

    free = DisagreementRollouts(model, None, None).rollout(start, push)
    ended = DisagreementRollouts(model, None, falls_beyond).rollout(start, push)
    assert ended.item() < 0.4 * free.item()  # only the steps up to the fall count


def test_bad_config_is_one_line() -> None:
    with pytest.raises(ValueError, match="horizon >= 1"):
        make_strategy("adversarial-mpc", SLIDER_SPEC, {"horizon": 0})
