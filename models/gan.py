"""A small generative adversarial network over vectors (Goodfellow et al. 2014).

Why in advex: a GAN learns to *sample* plausible robot states/observations without a density,
e.g. to propose start states near the data manifold. The setup follows the 1-D GAN tutorial
that learns ``N(-1, 1)``: tiny tanh MLPs, noise on the data's scale, stratified + sorted
noise paired with sorted data ("manifold alignment", 1-D only), pre-training of ``D`` by MSE
against the data density (``pretrain_d_steps``), and the non-saturating generator loss
``-log D(G(z))`` (the minimax ``log(1 - D(G(z)))`` is selectable).

Two defaults differ from the tutorial, each because a measurement said so
(``benchmarks/gan_tails.py``, docs/benchmarks.md; 3 seeds each):

* **Noise is normal, not uniform** (``noise="normal"``: stratified normal quantiles).
  ``G`` must learn the map from noise to data quantiles. From ``U(-5, 5)`` that map is the
  normal quantile function, which is steepest at the ends, exactly where tanh units flatten.
  It is also bounded, so a generator fed uniform noise only ever drew values in about
  ``[-2.9, 0.8]`` (the target's 1 % and 99 % points are -3.3 and 1.3; Kolmogorov-Smirnov
  distance 0.05-0.06). With normal noise the map is nearly the identity, and the same
  networks reach KS 0.005-0.011 with 1 % / 99 % points within 0.3 of the target's.
  ``noise="uniform"`` is the tutorial's.
* **D pre-training is off** (``pretrain_d_steps=0``). With normal noise, 500 pre-training
  steps left two seeds as they were and made one worse (KS 0.082), at twice the time.

Beyond the tutorial: Adam, and samples come from an exponential moving average of G's weights
(``generator_ema``), because the last iterate of the game oscillates around the target.

Shapes: ``B`` batch, ``D`` data dim (``data_dim``), ``Z`` noise dim (``noise_dim``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advex.models.normalizer import Normalizer
from advex.seeding import isolated_global_rngs

from .generative_data import (
    CheckpointMixin,
    as_float_tensor,
    check_finite,
    checkpoint_format,
    seeded_init_,
)
from .mlp_builder import build_mlp

GeneratorLoss = Literal["non_saturating", "minimax"]
NoiseKind = Literal["normal", "uniform"]


@dataclass
class GANConfig:
    """Everything that shapes a :class:`GAN` and its training.

    ``aligned_noise`` (tutorial "manifold alignment") needs ``data_dim == noise_dim == 1``:
    sorting only orders points on a line. ``pretrain_d_steps > 0`` fits ``D(x)`` to the data
    density by MSE before the adversarial game (tutorial trick; a Gaussian KDE of the data is
    used when no density function is given to :meth:`GAN.fit`).
    """

    data_dim: int = 1
    noise_dim: int = 1
    generator_hidden: tuple[int, ...] = (6, 5)
    discriminator_hidden: tuple[int, ...] = (16, 16)  # a bit wider than G: D must see spread
    noise: NoiseKind = "normal"  # "uniform": U(noise_low, noise_high)^Z (the tutorial's)
    noise_std: float = 1.0  # "normal": N(0, noise_std^2)^Z, the scale of standardised data
    noise_low: float = -5.0  # "uniform": stretched to the data's range (tutorial)
    noise_high: float = 5.0
    aligned_noise: bool = True
    generator_loss: GeneratorLoss = "non_saturating"
    normalize: bool = False  # standardise data per dim first (use for robot states)
    batch_size: int = 200
    steps: int = 1500
    d_steps_per_g: int = 1
    generator_lr: float = 3e-3
    discriminator_lr: float = 3e-3
    pretrain_d_steps: int = 0
    pretrain_lr: float = 1e-2
    adam_betas: tuple[float, float] = field(default=(0.5, 0.999))
    final_lr_fraction: float = 1.0  # LRs decay geometrically to this fraction over `steps`
    generator_ema: float = 0.995  # sample from an exponential average of G's weights (0: off)

    def __post_init__(self) -> None:
        self.generator_hidden = tuple(int(h) for h in self.generator_hidden)
        self.discriminator_hidden = tuple(int(h) for h in self.discriminator_hidden)
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))
        if self.data_dim < 1 or self.noise_dim < 1:
            raise ValueError(f"GANConfig: data_dim and noise_dim must be >= 1, got {self}")
        if any(h < 1 for h in self.generator_hidden + self.discriminator_hidden):
            raise ValueError("GANConfig: hidden layer sizes must be >= 1")
        if self.generator_loss not in ("non_saturating", "minimax"):
            raise ValueError(
                f"GANConfig: generator_loss must be 'non_saturating' or 'minimax', "
                f"got {self.generator_loss!r}"
            )
        if self.aligned_noise and (self.data_dim != 1 or self.noise_dim != 1):
            raise ValueError(
                "GANConfig: aligned_noise (sorted, stratified noise) needs data_dim == noise_dim "
                f"== 1, got data_dim={self.data_dim}, noise_dim={self.noise_dim}; set "
                "aligned_noise=False for vector data"
            )
        if self.noise not in ("normal", "uniform"):
            raise ValueError(f"GANConfig: noise must be 'normal' or 'uniform', got {self.noise!r}")
        if not self.noise_low < self.noise_high or not self.noise_std > 0:
            raise ValueError(f"GANConfig: need noise_low < noise_high and noise_std > 0, "
                             f"got {self}")
        if (
            min(self.batch_size, self.d_steps_per_g) < 1
            or min(self.steps, self.pretrain_d_steps) < 0
        ):
            raise ValueError("GANConfig: batch_size, d_steps_per_g >= 1; steps >= 0")


@dataclass
class GANHistory:
    """Per-step losses of one :meth:`GAN.fit` call (lists of floats)."""

    pretrain_mse: list[float] = field(default_factory=list)
    discriminator_loss: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)


def generator_loss(fake_logits: torch.Tensor, kind: GeneratorLoss) -> torch.Tensor:
    """Scalar generator loss from ``D``'s logits on fakes (``B x 1``).

    ``minimax``: ``mean log(1 - D(G(z)))`` (minimised; saturates — gradient ``~D`` vanishes when
    ``D`` confidently rejects fakes). ``non_saturating``: ``-mean log D(G(z))`` (same fixed
    point, gradient ``~1 - D`` stays large early on). Written with ``softplus`` of logits so
    neither ``log`` sees an exact 0.
    """
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()  # -log sigmoid(l)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l))
    raise ValueError(f"generator_loss: unknown kind {kind!r}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean[log D(x) + log(1 - D(G(z)))]`` (binary cross-entropy, real=1, fake=0)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def _tanh_mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """Tanh MLP: the tutorial found ReLU units die from large early GAN gradients."""
    return build_mlp([in_dim, *hidden, out_dim], "tanh")


def gaussian_kde_density(data: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Product-Gaussian KDE (Scott bandwidth) of ``data`` (``N x D``): ``x (B x D) -> B``."""
    n, d = data.shape
    bandwidth = data.std(dim=0).clamp_min(1e-3) * n ** (-1.0 / (d + 4))
    points = data[: min(n, 2000)]
    norm = (2 * math.pi) ** (d / 2) * bandwidth.prod()

    def density(x: torch.Tensor) -> torch.Tensor:
        diff = (x[:, None, :] - points[None, :, :]) / bandwidth
        return torch.exp(-0.5 * (diff**2).sum(-1)).mean(dim=1) / norm

    return density


class GAN(CheckpointMixin, nn.Module):
    """Generator ``G: Z -> D`` and discriminator ``D: D -> logit`` trained adversarially.

    ``sample(n)`` returns ``n x data_dim`` in raw data units. With ``normalize=True`` the
    networks work on standardised data, and the statistics are saved with the weights.
    """

    # v2: the data statistics live in a Normalizer (``normalizer.mean``/``.std``)
    checkpoint_file = checkpoint_format("gan", version=2)
    config_type = GANConfig

    def __init__(self, config: GANConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or GANConfig()
        cfg = self.config
        with isolated_global_rngs():
            self.generator = _tanh_mlp(cfg.noise_dim, cfg.generator_hidden, cfg.data_dim)
            self.discriminator = _tanh_mlp(cfg.data_dim, cfg.discriminator_hidden, 1)
            # The GAN game orbits its equilibrium rather than settling; averaging G's weights
            # over the last ~1/(1-ema) steps lands near the orbit's centre (Yazici et al. 2019).
            self.generator_average = _tanh_mlp(cfg.noise_dim, cfg.generator_hidden, cfg.data_dim)
        self.generator_average.requires_grad_(False)
        #: standardises data per dim when ``config.normalize`` (identity until fitted)
        self.normalizer = Normalizer(cfg.data_dim)
        seeded_init_(self, seed)
        self.generator_average.load_state_dict(self.generator.state_dict())

    # ----------------------------------------------------------------------------- sampling
    def sample_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n x Z`` noise, ``N(0, noise_std^2)`` or ``U(low, high)`` (``config.noise``);
        stratified and sorted when ``aligned_noise``.

        Stratified: ``n`` equal-probability cells, one jittered point per cell, so the batch
        covers the distribution evenly and comes out sorted (tutorial manifold alignment).
        """
        cfg = self.config
        if cfg.aligned_noise:
            cells = torch.arange(n, dtype=torch.float32)[:, None]
            uniform = (cells + torch.rand(n, 1, generator=generator)) / n
        else:
            uniform = torch.rand(n, cfg.noise_dim, generator=generator)
        if cfg.noise == "normal":  # the quantiles of the uniform draws: still sorted
            return cfg.noise_std * torch.special.ndtri(uniform.clamp(1e-6, 1 - 1e-6))
        return cfg.noise_low + (cfg.noise_high - cfg.noise_low) * uniform

    def generate_normalized(self, noise: torch.Tensor, *, averaged: bool = True) -> torch.Tensor:
        """``G(z)``: ``B x Z`` noise -> ``B x D`` samples in the network's (normalised) units.

        ``averaged`` uses the weight-averaged generator when ``generator_ema > 0``.
        """
        use_average = averaged and self.config.generator_ema > 0
        return (self.generator_average if use_average else self.generator)(noise)

    def sample(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """``n x data_dim`` generated samples in raw data units (no gradient)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            fake = self.generate_normalized(self.sample_noise(n, gen))
        return self.normalizer.denormalize(fake)

    # ----------------------------------------------------------------------------- training
    def _pretrain_discriminator(
        self,
        data_n: torch.Tensor,
        density: Callable[[torch.Tensor], torch.Tensor],
        gen: torch.Generator,
        history: GANHistory,
        progress: bool,
    ) -> None:
        """Fit ``sigmoid(D(x))`` to ``p_data(x)`` by MSE on points spread over the data range.

        ``density`` takes normalised-unit points (``B x D``) and returns ``B`` densities.
        """
        cfg = self.config
        lo = data_n.min(dim=0).values - 1.0
        hi = data_n.max(dim=0).values + 1.0
        opt = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.pretrain_lr)
        for step in tqdm(range(cfg.pretrain_d_steps), desc="GAN D pre-train", disable=not progress):
            u = torch.rand(cfg.batch_size, cfg.data_dim, generator=gen)
            points = lo + (hi - lo) * u
            target = density(points).clamp(0.0, 1.0)
            pred = torch.sigmoid(self.discriminator(points)).squeeze(-1)
            loss = F.mse_loss(pred, target)
            check_finite(loss, model="GAN", step=step, what="discriminator pre-train MSE")
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.pretrain_mse.append(loss.item())

    def fit(
        self,
        data: torch.Tensor,
        *,
        density: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> GANHistory:
        """Train on ``data`` (``N x data_dim``, numpy or torch) for ``config.steps`` G-steps.

        ``density``: the true data density in raw units, ``x (B x D) -> B``, used only for
        ``D`` pre-training (a KDE of ``data`` when ``None``). A second call continues from the
        current weights (fresh optimisers). Raises ``NonFiniteLossError`` on NaN/inf losses.
        """
        cfg = self.config
        data = as_float_tensor(data, name="GAN.fit data", ndim=2)
        if data.shape[1] != cfg.data_dim:
            raise ValueError(
                f"GAN.fit: data has {data.shape[1]} columns, config.data_dim={cfg.data_dim}"
            )
        if cfg.normalize:
            self.normalizer.fit(data)
        data_n = self.normalizer.normalize(data)
        gen = torch.Generator().manual_seed(seed)
        history = GANHistory()

        if cfg.pretrain_d_steps > 0:
            if density is None:
                norm_density = gaussian_kde_density(data_n)
            else:
                jacobian = self.normalizer.std.prod()  # p_n(x_n) = p_raw(x) * prod(std)

                def norm_density(x_n: torch.Tensor) -> torch.Tensor:
                    return density(self.normalizer.denormalize(x_n)) * jacobian

            self._pretrain_discriminator(data_n, norm_density, gen, history, progress)

        opt_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=cfg.discriminator_lr, betas=cfg.adam_betas
        )
        opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=cfg.generator_lr, betas=cfg.adam_betas
        )
        decay = cfg.final_lr_fraction ** (1.0 / max(cfg.steps, 1))
        schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, decay) for o in (opt_d, opt_g)]
        batch = min(cfg.batch_size, len(data_n))
        for step in tqdm(range(cfg.steps), desc="GAN", disable=not progress):
            for _ in range(cfg.d_steps_per_g):
                idx = torch.randint(len(data_n), (batch,), generator=gen)
                real = data_n[idx]
                if cfg.aligned_noise:  # pair sorted data with sorted, stratified noise
                    real = real.sort(dim=0).values
                with torch.no_grad():
                    fake = self.generator(self.sample_noise(batch, gen))
                d_loss = discriminator_loss(self.discriminator(real), self.discriminator(fake))
                check_finite(d_loss, model="GAN", step=step, what="discriminator loss")
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()

            fake = self.generator(self.sample_noise(batch, gen))
            g_loss = generator_loss(self.discriminator(fake), cfg.generator_loss)
            check_finite(g_loss, model="GAN", step=step, what="generator loss")
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            for scheduler in schedulers:
                scheduler.step()
            self._update_average()
            history.discriminator_loss.append(d_loss.item())
            history.generator_loss.append(g_loss.item())
        return history

    @torch.no_grad()
    def _update_average(self) -> None:
        """``avg <- ema * avg + (1 - ema) * current`` for every generator parameter."""
        ema = self.config.generator_ema
        for avg, cur in zip(
            self.generator_average.parameters(), self.generator.parameters(), strict=True
        ):
            avg.lerp_(cur, 1.0 - ema)  # ema = 0 copies the current weights
