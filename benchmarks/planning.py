"""Planning speed: milliseconds per MPC action on HalfCheetah-v5 by propagation and particles.

The issue's setting: a 7-member ensemble (5 elites, 4 x 200 hidden, advex's defaults), CEM with
horizon 15, population 200, 3 iterations, one torch thread. Rows:
- 20 particles with ``mean`` (the elite mixture: all 7 members run on every particle), ``ts1``
  and ``tsinf`` (each particle through one elite member), each noise-free (advex's default)
  and sampled (``s' ~ N(mean, var)``, mbrl-lib's way). Noise-free ``mean`` and ``tsinf``
  rollouts are deterministic, so ``ModelEnv.rollout`` runs repeated particles once (1 row per
  candidate for ``mean``, at most 5 for ``tsinf``): same returns, less work. The sampled TS
  rows are the like-for-like comparison with mbrl-lib;
- 1 particle with each propagation, on 1 and on 2 threads;
- "network alone": the same matrix products and SiLUs as one TS action with nothing around
  them, the floor for this work on this machine.

The peer: mbrl-lib 0.2.0's ``TrajectoryOptimizerAgent`` on the same setting (a 7-member
``GaussianMLP`` with 5 elites, its default ``random_model`` propagation, i.e. TS-1 over the
elites, and ``expectation``), timed in the same run when ``import mbrl`` works. mbrl-lib is not
an advex dependency; it installs beside advex without touching advex's environment:

    pip install --target /tmp/mbrlpkgs --no-deps mbrl==0.2.0 hydra-core omegaconf \
        "antlr4-python3-runtime==4.9.*" termcolor
    PYTHONPATH=/tmp/mbrlpkgs python benchmarks/planning.py [--actions 5] [--profile]

``--profile``: instead of the tables, ``torch.profiler``'s top operators for one ``ts1`` action
with 20 particles on one thread (where the time goes).

Without it, the issue's figures stand in (another machine, 1 thread: mbrl-lib 572 ms with its
default propagation; advex's ``MPCAgent`` then 4 209 ms at 20 particles and 139 ms at 1), and
each row is also given "scaled": its time times (the issue's time / this run's ``mean sampled``
time, same particles, 1 thread), since ``mean sampled`` does the work the issue timed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from harness import Stopwatch, pin_threads

from advex.agents import CEMConfig, ModelEnv, MPCAgent, MPCConfig
from advex.envs import get_task, make_env
from advex.exploration.collect import collect
from advex.models import EnsembleModel, TrainConfig, fit_model
from advex.types import TransitionBatch

MBRL_TS_MS = 572.0  # mbrl-lib 0.2.0, default propagation, 20 particles (from the issue)
ADVEX_BEFORE_20_MS = 4209.0
ADVEX_BEFORE_1_MS = 139.0
#: Rows per setting: "mean sampled" first (every particle through all 7 members, the code the
#: issue timed, so it scales the issue's figures); the noise-free rows share repeated particles
#: (ModelEnv.rollout) except ts1; the sampled TS rows do mbrl-lib's work, every particle apart.
ROWS = ("mean sampled", "mean", "ts1", "tsinf", "ts1 sampled", "tsinf sampled")


def ms_per_action(env: gym.Env, obs: np.ndarray, act: Callable[[np.ndarray], np.ndarray],
                  n_actions: int) -> float:
    """Mean ms per action of ``act`` over ``n_actions`` real steps after one warm-up call
    (first-call allocations); closes ``env``."""
    act(obs)
    with Stopwatch() as clock:
        for _ in range(n_actions):
            obs, *_ = env.step(act(obs))
    env.close()
    return 1000 * clock.seconds / n_actions


def time_agent(model: EnsembleModel, propagation: str, particles: int, n_actions: int,
               sample: bool = False) -> float:
    spec = get_task("HalfCheetah-v5")
    env = make_env(spec)
    obs, _ = env.reset(seed=0)
    assert spec.reward_fn is not None  # HalfCheetah has a closed-form reward
    model_env = ModelEnv(model, spec.reward_fn, spec.term_fn,
                         propagation=propagation, sample=sample,
                         generator=torch.Generator().manual_seed(0))
    config = MPCConfig(horizon=15, particles=particles,
                       optimizer_config=CEMConfig(population=200, iterations=3))
    agent = MPCAgent(model_env, env.action_space.low, env.action_space.high, config, seed=0)
    return ms_per_action(env, obs, agent.act, n_actions)


def network_floor_ms(model: EnsembleModel, particles: int, n_actions: int) -> float:
    """ms per action of the network alone: one action's batched matrix products and SiLUs
    (3 iterations x 15 steps, 200 x ``particles`` rows dealt evenly over the elites), with no
    planner, grouping or reward around them. The best any implementation of this work can do
    with these kernels on this machine."""
    params = [(layer.weight[model.elite_idx], layer.bias[model.elite_idx])
              for layer in model._layers()]
    elites, rows = len(model.elite_idx), 200 * particles
    x = torch.randn(elites, rows // elites, params[0][0].shape[1])

    def one_action() -> None:
        for _ in range(3 * 15):
            h = x
            for weight, bias in params[:-1]:
                h = torch.nn.functional.silu(torch.baddbmm(bias, h, weight))
            torch.baddbmm(params[-1][1], h, params[-1][0])

    with torch.no_grad():
        one_action()
        clock = Stopwatch()
        for _ in range(n_actions):
            one_action()
    return 1000 * clock.seconds / n_actions


def mbrl_agent_ms(data: TransitionBatch, propagation: str, particles: int,
                  n_actions: int) -> float:
    """mbrl-lib 0.2.0's CEM agent on the same setting; ms per action (raises ImportError)."""
    import mbrl.models
    import mbrl.planning
    import mbrl.types
    import omegaconf

    spec = get_task("HalfCheetah-v5")
    env = make_env(spec)
    obs, _ = env.reset(seed=0)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    net = mbrl.models.GaussianMLP(obs_dim + act_dim, obs_dim, "cpu", num_layers=4,
                                  ensemble_size=7, hid_size=200, propagation_method=propagation)
    model = mbrl.models.OneDTransitionRewardModel(net, normalize=True, learned_rewards=False,
                                                  num_elites=5)
    model.update_normalizer(mbrl.types.TransitionBatch(
        data.obs, data.act, data.next_obs, None, None, None))
    model.set_elite(range(5))

    def reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return (next_obs[:, 8] - 0.1 * act.square().sum(1)).unsqueeze(1)  # HalfCheetah-v5

    def never_done(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(next_obs), 1, dtype=torch.bool)

    model_env = mbrl.models.ModelEnv(env, model, never_done, reward,
                                     generator=torch.Generator().manual_seed(0))
    cfg = omegaconf.OmegaConf.create({
        "_target_": "mbrl.planning.TrajectoryOptimizerAgent", "planning_horizon": 15,
        "replan_freq": 1, "verbose": False, "action_lb": "???", "action_ub": "???",
        "_recursive_": False,  # the agent fills the optimizer's bounds itself
        "optimizer_cfg": {"_target_": "mbrl.planning.CEMOptimizer", "num_iterations": 3,
                          "elite_ratio": 0.1, "population_size": 200, "alpha": 0.1,
                          "device": "cpu", "lower_bound": "???", "upper_bound": "???",
                          "return_mean_elites": True, "clipped_normal": False}})
    agent = mbrl.planning.create_trajectory_optim_agent_for_model(model_env, cfg, particles)
    return ms_per_action(env, obs, agent.act, n_actions)


def profile_ts1(model: EnsembleModel) -> None:
    """Self CPU time by operator for one ``ts1`` MPC action, 20 particles, one thread."""
    from torch.profiler import profile

    pin_threads()
    with profile() as prof:
        time_agent(model, "ts1", 20, n_actions=1)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="print the top operators of one ts1 action (20 particles)")
    args = parser.parse_args()
    buffer = collect("HalfCheetah-v5", n_steps=2000, seed=0, progress=False)
    model = EnsembleModel(17, 6)
    fit_model(model, buffer, TrainConfig(max_epochs=3), progress=False)
    model.eval()
    if args.profile:
        profile_ts1(model)
        return

    peer: dict[tuple[int, int], float] = {}  # (particles, threads) -> mbrl-lib TS ms
    try:
        print("| mbrl-lib 0.2.0 | particles | threads | ms per action |\n| --- | --- | --- | --- |")
        for particles, threads, propagation in ((20, 1, "random_model"), (20, 1, "expectation"),
                                                (1, 1, "random_model"), (1, 2, "random_model")):
            pin_threads(threads)
            ms = mbrl_agent_ms(buffer.batch(), propagation, particles, args.actions)
            if propagation == "random_model":
                peer[particles, threads] = ms
            print(f"| {propagation} | {particles} | {threads} | {ms:.0f} |", flush=True)
    except ImportError as err:
        print(f"mbrl-lib not importable ({err}); the issue's figures stand in, scaled")

    print("\n| particles | propagation | threads | ms per action | vs mean sampled (this run) "
          "| vs mbrl-lib TS | how |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    scale: dict[int, float] = {}
    for particles, threads in ((20, 1), (1, 1), (1, 2)):
        pin_threads(threads)
        names = ROWS if particles > 1 else ROWS[:4]  # one particle: nothing to share
        floor_ms = network_floor_ms(model, particles, args.actions)
        versus = (f"{floor_ms / peer[particles, threads]:.2f}x" if (particles, threads) in peer
                  else "-")
        print(f"| {particles} | network alone | {threads} | {floor_ms:.0f} | - | {versus} "
              "| same run |", flush=True)
        for name in names:
            propagation, sample = name.split()[0], name.endswith("sampled")
            ms = time_agent(model, propagation, particles, args.actions, sample)
            if name == "mean sampled":
                reference_ms = ms
                if threads == 1:
                    before = ADVEX_BEFORE_20_MS if particles == 20 else ADVEX_BEFORE_1_MS
                    scale[particles] = before / ms
            if (particles, threads) in peer:
                versus, how = f"{ms / peer[particles, threads]:.2f}x", "same run"
            elif particles == 20:
                versus = f"{ms * scale[particles] / MBRL_TS_MS:.2f}x"
                how = "scaled to the issue's machine"
            else:
                versus, how = "-", "-"
            print(f"| {particles} | {name} | {threads} | {ms:.0f} | "
                  f"{ms / reference_ms:.2f}x | {versus} | {how} |", flush=True)


if __name__ == "__main__":
    main()
