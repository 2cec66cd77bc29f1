"""Learned reward and termination heads on held-out episodes, against a constant predictor.

For each task: random transitions for training (seed 0) and held-out ones from other
episodes (seed 1); the reward head's held-out MSE against the train mean's (and R^2), and the
termination head's balanced accuracy (a constant scores 0.5; "-" where the task never
terminates). Default :class:`~advex.models.reward_head.HeadConfig`.

    python benchmarks/reward_heads.py [--tasks Walker2d-v5,Hopper-v5,Swimmer-v5,Ant-v5]
        [--train 4000] [--test 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from harness import Stopwatch

from advex.exploration.collect import collect
from advex.models.reward_head import fit_reward_head, fit_termination_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="Walker2d-v5,Hopper-v5,Swimmer-v5,Ant-v5")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()
    torch.manual_seed(0)
    print("| task | reward MSE | constant MSE | R² | falls held out | balanced accuracy | fit s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for task in args.tasks.split(","):
        train = collect(task, n_steps=args.train, seed=0, progress=False)
        test = collect(task, n_steps=args.test, seed=1, progress=False).batch()
        with Stopwatch() as clock:
            reward_head, term_head = fit_reward_head(train), fit_termination_head(train)
        fit_s = clock.seconds
        act, next_obs = torch.as_tensor(test.act), torch.as_tensor(test.next_obs)
        mse = float(((reward_head(act, next_obs).numpy() - test.reward) ** 2).mean())
        constant = float(((train.batch().reward.mean() - test.reward) ** 2).mean())
        r2 = 1 - mse / float(test.reward.var())
        falls = test.terminated
        if falls.any():
            predicted = term_head(act, next_obs).numpy()
            balanced = f"{0.5 * (predicted[falls].mean() + (~predicted[~falls]).mean()):.3f}"
        else:
            balanced = "-"
        print(f"| {task} | {mse:.4g} | {constant:.4g} | {r2:.3f} | {int(np.sum(falls))} | "
              f"{balanced} | {fit_s:.1f} |")


if __name__ == "__main__":
    main()
