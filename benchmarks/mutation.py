"""Scripted mutation testing of advex's core: does the suite notice when the logic breaks?

Each mutant replaces one exact snippet of one source file (the file is restored afterwards,
even on Ctrl-C), then runs the tests that cover that file; the mutant is *killed* when they
fail (pytest exit status 1; a mutant that breaks the run itself is reported as broken and not
counted as killed). The score is killed / total. A surviving mutant names a behaviour no test
protects.
Not part of CI (minutes of test runs); run it after changing tests or core logic:

    python benchmarks/mutation.py            # every mutant
    python benchmarks/mutation.py --list     # what each mutant breaks
    python benchmarks/mutation.py --only 3,7 # a few of them

The list is hand-written (mutmut's generated mutants are mostly equivalent or trivial on this
code base): each entry is a plausible bug in a core behaviour of ``models/``,
``exploration/``, ``analysis/`` or ``envs/``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    Mutant("ensemble elites are the worst members", "models/ensemble.py",
           "best = torch.argsort(scores, stable=True)",
           "best = torch.argsort(-scores, stable=True)",
           ("tests/models",)),
    Mutant("no bootstrap resampling", "models/training.py", "    if model.bootstrap:",
           "    if False:", ("tests/models",)),
    Mutant("early stopping keeps the last weights", "models/training.py",
           "    model.load_state_dict(model.merge_group_states("
           "[s for s in states if s is not None]))",
           "    pass", ("tests/models",)),
    Mutant("validation rows trained on", "models/training.py",
           "        return data.batch(train_idx), (data.batch(val_idx)",
           "        return data.batch(None), (data.batch(val_idx)", ("tests/models",)),
    Mutant("target normaliser ignored in predictions", "models/base.py",
           "            next_mean = obs_t + self.target_normalizer.denormalize(mean)",
           "            next_mean = obs_t + mean", ("tests/models",)),
    Mutant("PPO clip takes the maximum", "exploration/policy_gradient.py",
           "surrogate = torch.minimum(", "surrogate = torch.maximum(", ("tests/exploration",)),
    Mutant("returns-to-go not discounted", "exploration/policy_gradient.py",
           "g = float(rewards[i]) + gamma * running.get(ep, 0.0)",
           "g = float(rewards[i]) + running.get(ep, 0.0)", ("tests/exploration",)),
    Mutant("pathwise adversary descends", "exploration/policy_strategy.py",
           "grads = torch.autograd.grad(-objective, params)",
           "grads = torch.autograd.grad(objective, params)", ("tests/exploration",)),
    Mutant("simulator action Jacobian dropped", "exploration/adversarial_pathwise.py",
           "                        + (self.obs_act[r] @ d_act.unsqueeze(-1)).squeeze(-1))",
           "                        + 0 * (self.obs_act[r] @ d_act.unsqueeze(-1)).squeeze(-1))",
           ("tests/exploration/test_adversarial_pathwise.py",)),
    Mutant("no chaining through the real states", "exploration/adversarial_pathwise.py",
           "            dx = ((self.state_state[r] @ dx.unsqueeze(-1)).squeeze(-1)",
           "            dx = 0 * ((self.state_state[r] @ dx.unsqueeze(-1)).squeeze(-1)",
           ("tests/exploration/test_adversarial_pathwise.py",)),
    Mutant("model not frozen during the ascent", "exploration/adversarial_pathwise.py",
           "        with frozen(model):", "        with frozen():",
           ("tests/exploration/test_adversarial_pathwise.py",)),
    Mutant("before-refit rewards from the refitted model", "exploration/policy_gradient.py",
           "            used_early = early is not None\n",
           "            used_early = early = None\n", ("tests/exploration",)),
    Mutant("random policy ignores its seed", "exploration/collect.py",
           "        return RandomPolicy(space.low, space.high, np.random.default_rng(seed))",
           "        return RandomPolicy(space.low, space.high, np.random.default_rng(0))",
           ("tests/exploration/test_collect.py",)),
    Mutant("round seeds ignore the round", "engine/experiment.py",
           "    return derive_seed(seed, round_index, purpose)",
           "    return derive_seed(seed, purpose)", ("tests/engine/test_evaluation.py",)),
    Mutant("the loop skips observe_round", "engine/experiment.py",
           "                observed = strategy.observe_round(buffer, model, data)",
           "                observed = None  #",
           ("tests/engine/test_compare.py::test_resume_equals_uninterrupted",)),
    Mutant("yardstick errors not normalised", "engine/metrics.py",
           "            per_row = normalised_sq_error(mean, target, scale)",
           "            per_row = normalised_sq_error(mean, target, 1.0)",
           ("tests/engine/test_metrics.py",)),
    Mutant("IQM is the mean", "analysis/statistics.py",
           "def iqm(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:",
           "def iqm(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:\n"
           "    return np.mean(np.asarray(x, dtype=np.float64), axis=axis)",
           ("tests/analysis/test_statistics.py",)),
    Mutant("MPC scores candidates by their first particle", "agents/mpc.py",
           "            return returns.reshape(n, particles).mean(dim=1)",
           "            return returns.reshape(n, particles)[:, 0]", ("tests/agents",)),
    Mutant("set_state skips mj_forward", "envs/state.py",
           "    mujoco.mj_forward(inner.model, inner.data)\n    return inner._get_obs()",
           "    return inner._get_obs()", ("tests/envs/test_state.py",)),
    Mutant("umask ignored by atomic writes", "advex/atomic_io.py",
           "        os.fchmod(fd, 0o666 & ~_umask())", "        pass",
           ("tests/analysis/test_atomic_io.py",)),
)


def run_mutant(mutant: Mutant, timeout: int) -> tuple[str, float]:
    path = ROOT / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return "stale (snippet not found once)", 0.0
    start = time.perf_counter()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             *mutant.tests],
            cwd=ROOT, env=env, capture_output=True, timeout=timeout,
        )
        # pytest: 1 = a test failed; 2-5 = the run broke (e.g. the mutant does not import),
        # which says nothing about the tests
        status = {0: "SURVIVED", 1: "killed"}.get(proc.returncode,
                                                  f"broken (pytest rc {proc.returncode})")
    except subprocess.TimeoutExpired:
        status = "killed (timeout)"
    finally:
        path.write_text(original)
    return status, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated mutant numbers")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per mutant")
    args = parser.parse_args()
    chosen = range(len(MUTANTS)) if args.only is None else [int(i) for i in args.only.split(",")]
    if args.list:
        for i in chosen:
            print(f"{i:2d}  {MUTANTS[i].path:36s} {MUTANTS[i].what}")
        return
    killed = 0
    for i in chosen:
        status, seconds = run_mutant(MUTANTS[i], args.timeout)
        killed += status.startswith("killed")
        print(f"{i:2d}  {status:18s} {seconds:6.0f} s  {MUTANTS[i].path}: {MUTANTS[i].what}",
              flush=True)
    print(f"mutation score: {killed}/{len(chosen)} killed")


if __name__ == "__main__":
    main()
