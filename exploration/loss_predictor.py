"""A differentiable stand-in for the model's loss: ``L_phi(s, a) ~ log model.loss(s, a, s')``.

The pathwise adversary needs ``d loss / d(s, a)``, but the true loss needs the real next
state, which an imagined rollout does not have. When the model is not an ensemble (no
differentiable ``disagreement``), the adversary regresses this small network on
``model.loss`` of buffer rows each round and back-propagates through it instead.

Target: ``log(loss + eps)``. Losses are heavy-tailed and shrink by orders of magnitude as the
model improves; the log makes the regression well-conditioned and the adversary's objective
scale-free (it then maximises the log-loss, i.e. relative increases).
Inputs ``[obs, act]`` are standardised with statistics refitted on every :meth:`fit`'s data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advex.models.mlp_builder import build_mlp, uniform_init
from advex.models.normalizer import Normalizer

LOG_EPS = 1e-8


@dataclass
class LossPredictorConfig:
    """Size and training budget of :class:`LossPredictor` (per round)."""

    predictor_hidden_sizes: tuple[int, ...] = (64, 64)
    predictor_lr: float = 1e-3
    predictor_steps: int = 200
    predictor_batch_size: int = 256
    #: buffer rows (sampled uniformly) whose model loss is the regression data each round.
    predictor_samples: int = 4096


class LossPredictor(nn.Module):
    """``(obs B x O, act B x A) -> B`` predicted ``log(model loss)``."""

    def __init__(
        self, obs_dim: int, act_dim: int, config: LossPredictorConfig, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.config = config
        dim = obs_dim + act_dim
        self.input_normalizer = Normalizer(dim, eps=1e-6)
        self.net = build_mlp(
            [dim, *config.predictor_hidden_sizes, 1], "silu", uniform_init(generator)
        )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.predictor_lr)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = self.input_normalizer.normalize(torch.cat([obs, act], dim=-1))
        return self.net(x).squeeze(-1)

    def fit(
        self, obs: np.ndarray, act: np.ndarray, loss: np.ndarray, generator: torch.Generator
    ) -> dict[str, float]:
        """Regress on ``(obs N x O, act N x A) -> log(loss N)``, warm-started; returns the final
        MSE and the correlation of predictions with the targets."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        act_t = torch.as_tensor(act, dtype=torch.float32)
        target = torch.as_tensor(np.log(np.maximum(loss, 0.0) + LOG_EPS), dtype=torch.float32)
        self.input_normalizer.fit(torch.cat([obs_t, act_t], dim=-1))
        n, cfg = len(target), self.config
        for _ in range(cfg.predictor_steps):
            idx = torch.randint(n, (min(cfg.predictor_batch_size, n),), generator=generator)
            mse = (self(obs_t[idx], act_t[idx]) - target[idx]).square().mean()
            self.optimizer.zero_grad(set_to_none=True)
            mse.backward()
            self.optimizer.step()
        with torch.no_grad():
            pred = self(obs_t, act_t)
            final = float((pred - target).square().mean())
            corr = float(torch.corrcoef(torch.stack([pred, target]))[0, 1]) if n > 1 else 0.0
        return {"predictor_mse": final, "predictor_corr": corr if math.isfinite(corr) else 0.0}
