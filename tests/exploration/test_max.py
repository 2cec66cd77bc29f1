"""``max`` (MAX, Shyam et al. 2019): the Jensen-Rényi utility in closed form, the imagined
MDP SAC is solved in. (Its resume through the experiment loop:
tests/engine/test_compare.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advex.exploration.max_strategy import ImaginedVecEnv, jensen_renyi
from advex.exploration.strategy import make_strategy


def test_jensen_renyi_matches_numeric_integration_in_one_dimension() -> None:
    means = torch.tensor([[[0.0]], [[1.5]]])  # E=2, B=1, O=1
    variances = torch.tensor([[[0.5]], [[1.0]]])
    x = np.linspace(-20, 20, 200_001)
    dx = x[1] - x[0]

    def pdf(mu: float, var: float) -> np.ndarray:
        return np.exp(-0.5 * (x - mu) ** 2 / var) / math.sqrt(2 * math.pi * var)

    p1, p2 = pdf(0.0, 0.5), pdf(1.5, 1.0)
    h2 = lambda p: -math.log((p**2).sum() * dx)  # noqa: E731
    expected = h2(0.5 * (p1 + p2)) - 0.5 * (h2(p1) + h2(p2))
    assert jensen_renyi(means, variances).item() == pytest.approx(expected, rel=1e-6)


def test_jensen_renyi_is_zero_for_agreeing_members_and_grows_with_their_distance() -> None:
    variances = torch.ones(3, 4, 2)
    same = torch.zeros(3, 4, 2)
    assert torch.allclose(jensen_renyi(same, variances), torch.zeros(4), atol=1e-6)
    apart = [jensen_renyi(same + torch.tensor([-d, 0.0, d])[:, None, None], variances)
             for d in (0.5, 1.0, 2.0)]
    assert float(apart[0][0]) < float(apart[1][0]) < float(apart[2][0])
    # invariant to a per-dimension scale (what makes the yardstick's units harmless)
    spread = same + torch.tensor([-1.0, 0.0, 1.0])[:, None, None]
    scale = torch.tensor([3.0, 0.1])
    torch.testing.assert_close(jensen_renyi(spread, variances),
                               jensen_renyi(spread * scale, variances * scale**2))


class ToyEnsemble:
    """Two members: ``x' = x + a`` and ``x' = x + 2a`` (unit variance)."""

    def predict_members(self, obs: torch.Tensor, act: torch.Tensor):  # type: ignore[no-untyped-def]
        means = torch.stack([obs + act, obs + 2 * act])
        return means, torch.ones_like(means)


def test_imagined_env_steps_members_rewards_novelty_and_ends_episodes() -> None:
    starts = np.zeros((10, 1), np.float32)

    def falls(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return next_obs[:, 0] > 5.0

    env = ImaginedVecEnv(ToyEnsemble(), starts, np.array([-1.0], np.float32),
                         np.array([1.0], np.float32), n_envs=4, horizon=3, term_fn=falls,
                         scale=None, seed=0)
    obs = env.reset()
    assert obs.shape == (4, 1)
    env.step_async(np.zeros((4, 1)))
    _, still, _, _ = env.step_wait()  # members agree when a = 0: no novelty
    assert np.allclose(still, 0.0, atol=1e-6)
    env.step_async(np.ones((4, 1)))
    obs, moving, done, _ = env.step_wait()
    assert np.all(moving > 0) and not done.any()
    assert set(np.round(obs[:, 0], 4)) <= {1.0, 2.0}  # one member's prediction per row
    env.step_async(np.ones((4, 1)))
    obs, _, done, infos = env.step_wait()  # the third step: the time limit
    assert done.all() and all(info["TimeLimit.truncated"] for info in infos)
    assert np.all(obs == 0.0)  # restarted from the buffer's states


def test_bad_config_is_one_line() -> None:
    with pytest.raises(ValueError, match="horizon >= 1"):
        make_strategy("max", "InvertedPendulum-v5", {"horizon": 0})
