"""Variational autoencoder over vectors (Kingma & Welling 2014), plus gradient-estimator tools.

Why in advex: a VAE gives robot states/observations a low-dimensional latent code and a density
bound (the ELBO), useful to spot novel states and to compress observations. Gaussian encoder
``q(z|x) = N(mu(x), diag sigma^2(x))``, Gaussian decoder ``p(x|z) = N(m(z), diag s^2(z))``,
prior ``N(0, I)``. ELBO = ``E_q[log p(x|z)] - KL(q(z|x) || p(z))``, trained through the
reparameterisation ``z = mu + sigma * eps``.

The module also holds the two Monte-Carlo estimators of ``d/dtheta E_{z~N(theta, s^2)}[f(z)]``
from the lecture notes: score function (REINFORCE) ``f(z) (z - theta) / s^2`` and pathwise
(reparameterisation) ``f'(theta + s eps)``; both are unbiased, the pathwise one usually has far
lower variance, which is why VAEs train through it.

Shapes: ``B`` batch, ``D`` data dim (``input_dim``), ``L`` latent dim, ``S`` MC samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
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

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class VAEConfig:
    """Architecture and training of a :class:`VAE`.

    ``min_log_var``/``max_log_var`` bound the decoder's per-dim log variance: without a floor
    a Gaussian decoder can shrink ``s^2 -> 0`` on one point and send the likelihood to infinity.
    """

    input_dim: int = 2
    latent_dim: int = 2
    hidden_sizes: tuple[int, ...] = (64, 64)
    normalize: bool = True  # standardise inputs per dim (robot state dims differ in scale)
    lr: float = 3e-3
    batch_size: int = 128
    steps: int = 1000
    beta: float = 1.0  # weight on KL (1 = true ELBO)
    kl_warmup_steps: int = 300  # ramp the KL weight 0 -> beta (Bowman et al. 2016): avoids
    # the lazy optimum where a learned decoder variance "explains" a dim as noise
    min_log_var: float = -8.0
    max_log_var: float = 4.0

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if self.input_dim < 1 or self.latent_dim < 1 or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"VAEConfig: dims and hidden sizes must be >= 1, got {self}")
        if min(self.steps, self.kl_warmup_steps) < 0 or self.batch_size < 1:
            raise ValueError(f"VAEConfig: need batch_size>=1, steps/kl_warmup_steps>=0: {self}")
        if self.lr <= 0 or self.beta < 0:
            raise ValueError(f"VAEConfig: need lr > 0 and beta >= 0, got {self}")
        if not self.min_log_var < self.max_log_var:
            raise ValueError("VAEConfig: need min_log_var < max_log_var")


@dataclass
class VAEHistory:
    """Per-step training values of one :meth:`VAE.fit` call (batch means, nats per sample)."""

    loss: list[float] = field(default_factory=list)  # -(recon - beta * KL)
    reconstruction_log_lik: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag exp(log_var)) || N(0, I))`` per row: ``B x L -> B``.

    Closed form ``1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1)``.
    """
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(dim=-1)


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """``log N(x; mean, diag exp(log_var))`` per row: ``B x D -> B``."""
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(dim=-1)


def reparameterize(
    mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``z = mu + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``: a sample differentiable in
    ``(mu, log_var)``, the reparameterisation trick. Shapes ``... x L``.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * log_var) * eps


class ELBOModel(Protocol):
    """What :func:`maximise_elbo` trains: parameters and one-sample ELBO terms per row."""

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class ELBOTraining(Protocol):
    """The training fields :func:`maximise_elbo` reads off a model's config."""

    lr: float
    batch_size: int
    steps: int
    beta: float
    kl_warmup_steps: int


def monte_carlo_elbo(model: ELBOModel, x: Any, n_samples: int, seed: int) -> torch.Tensor:
    """``log p(x|z) - KL`` per row (``B``), averaged over ``n_samples`` draws of ``z`` from a
    generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(len(x))
    for _ in range(n_samples):
        recon, kl = model.elbo_terms(x, gen)
        total = total + recon - kl
    return total / n_samples


def maximise_elbo(
    model: ELBOModel, data: torch.Tensor, cfg: ELBOTraining, *, seed: int, progress: bool,
    name: str,
) -> VAEHistory:
    """Adam on minibatches of ``data`` (``N x ...``, drawn with replacement from ``seed``),
    loss ``-(log p(x|z) - w * beta * KL)`` with the KL weight ``w`` ramped from 0 to 1 over
    ``kl_warmup_steps`` (Bowman et al. 2016); ``NonFiniteLossError`` on a NaN/inf loss. The
    one training loop of :class:`VAE` and the frame VAE."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = VAEHistory()
    batch = min(cfg.batch_size, len(data))
    for step in tqdm(range(cfg.steps), desc=name, disable=not progress):
        x = data[torch.randint(len(data), (batch,), generator=gen)]
        recon, kl = model.elbo_terms(x, gen)
        warmup = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        loss = -(recon - warmup * cfg.beta * kl).mean()
        check_finite(loss, model=name, step=step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.loss.append(loss.item())
        history.reconstruction_log_lik.append(recon.mean().item())
        history.kl.append(kl.mean().item())
    return history


def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    return build_mlp([in_dim, *hidden, out_dim], "silu")


class VAE(CheckpointMixin, nn.Module):
    """Gaussian-encoder / Gaussian-decoder VAE over ``input_dim`` vectors.

    Public methods take and return raw-unit tensors; normalisation (when on) is internal and its
    statistics are saved with the weights. :meth:`elbo` is a lower bound on ``log p(x)`` of the
    *raw* data (the normaliser's Jacobian is included), so values are comparable across models.
    """

    # v2: the data statistics live in a Normalizer (``normalizer.mean``/``.std``)
    checkpoint_file = checkpoint_format("vae", version=2)
    config_type = VAEConfig

    def __init__(self, config: VAEConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        cfg = self.config
        with isolated_global_rngs():
            self.encoder = _mlp(cfg.input_dim, cfg.hidden_sizes, 2 * cfg.latent_dim)
            self.decoder = _mlp(cfg.latent_dim, cfg.hidden_sizes[::-1], 2 * cfg.input_dim)
        #: standardises data per dim when ``config.normalize`` (identity until fitted)
        self.normalizer = Normalizer(cfg.input_dim)
        seeded_init_(self, seed)

    # ------------------------------------------------------------------------------ pieces
    def _check_input(self, x: torch.Tensor, where: str) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != self.config.input_dim:
            raise ValueError(
                f"VAE.{where}: expected B x {self.config.input_dim} input, got {tuple(x.shape)}"
            )
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)`` parameters ``(mu, log_var)``, each ``B x L``, from raw ``x`` (``B x D``)."""
        x = self._check_input(x, "encode")
        mu, log_var = self.encoder(self.normalizer.normalize(x)).chunk(2, dim=-1)
        return mu, log_var.clamp(-12.0, 6.0)  # keeps exp() finite early in training

    def decode_normalized(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(x|z)`` parameters ``(mean, log_var)`` in normalised units, each ``B x D``."""
        mean, log_var = self.decoder(z).chunk(2, dim=-1)
        lo, hi = self.config.min_log_var, self.config.max_log_var
        log_var = lo + (hi - lo) * torch.sigmoid(log_var)  # smooth clamp: gradients never die
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean in raw units: ``z`` (``B x L``) -> ``B x D``."""
        mean, _ = self.decode_normalized(z)
        return self.normalizer.denormalize(mean)

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample ``(reconstruction log-likelihood, KL)`` per row, each ``B``, raw units."""
        x = self._check_input(x, "elbo")
        mu, log_var = self.encode(x)
        z = reparameterize(mu, log_var, generator)
        dec_mean, dec_log_var = self.decode_normalized(z)
        x_n = self.normalizer.normalize(x)
        # log p_raw(x|z) = log p_norm(x_n|z) - sum(log std): change of variables.
        log_std = self.normalizer.std.log().sum()
        recon = gaussian_log_likelihood(x_n, dec_mean, dec_log_var) - log_std
        return recon, kl_to_standard_normal(mu, log_var)

    def elbo(self, x: torch.Tensor, *, n_samples: int = 1, seed: int = 0) -> torch.Tensor:
        """ELBO per row (``B``), averaged over ``n_samples`` draws of ``z``; <= ``log p(x)``."""
        return monte_carlo_elbo(self, x, n_samples, seed)

    def sample(self, n: int, *, seed: int = 0, with_noise: bool = False) -> torch.Tensor:
        """``n x D`` draws in raw units: ``z ~ N(0, I)``, decoder mean (``+ s * eps`` if
        ``with_noise``)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            z = torch.randn(n, self.config.latent_dim, generator=gen)
            mean, log_var = self.decode_normalized(z)
            if with_noise:
                mean = reparameterize(mean, log_var, gen)
        return self.normalizer.denormalize(mean)

    # ----------------------------------------------------------------------------- training
    def fit(self, data: torch.Tensor, *, seed: int = 0, progress: bool = True) -> VAEHistory:
        """Maximise the ELBO of ``data`` (``N x D``, numpy or torch) by Adam on minibatches.

        Refits the normaliser, then continues from the current weights (warm start).
        Raises ``NonFiniteLossError`` if the loss turns NaN/inf.
        """
        cfg = self.config
        data = as_float_tensor(data, name="VAE.fit data", ndim=2)
        self._check_input(data, "fit")
        if cfg.normalize:
            self.normalizer.fit(data)
        return maximise_elbo(self, data, cfg, seed=seed, progress=progress, name="VAE")


# ----------------------------------------------------------------- gradient estimators (notes)


def _gaussian_samples(
    theta: torch.Tensor, std: torch.Tensor | float, n_samples: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(theta, std, z)`` as float32 with ``z = theta + std * eps``, ``S x *theta.shape``;
    one ``seed`` gives both estimators below the same ``eps`` draws."""
    theta = torch.as_tensor(theta, dtype=torch.float32)
    std = torch.as_tensor(std, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn((n_samples, *theta.shape), generator=gen)
    return theta, std, theta + std * eps


def score_function_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor,
    std: torch.Tensor | float = 1.0,
    *,
    n_samples: int = 1000,
    seed: int = 0,
) -> torch.Tensor:
    """REINFORCE estimates of ``d/dtheta E_{z~N(theta, std^2)}[f(z)]``: ``S x *theta.shape``.

    ``f`` maps samples ``S x *theta.shape`` to values ``S x *theta.shape[:-1]`` (one value per
    sample, e.g. a sum over the last dim) or elementwise to ``S x *theta.shape``.

    ``f(z) * d/dtheta log N(z; theta, std^2) = f(z) (z - theta) / std^2``. Needs only values
    of ``f`` (works for non-differentiable ``f``), at the price of high variance.
    """
    theta, std, z = _gaussian_samples(theta, std, n_samples, seed)
    with torch.no_grad():
        values = f(z)
    if values.shape != z.shape[: values.ndim] or values.ndim < z.ndim - 1:
        raise ValueError(f"f must map z {tuple(z.shape)} to per-sample values, got {values.shape}")
    values = values.reshape(*values.shape, *([1] * (z.ndim - values.ndim)))
    return values * (z - theta) / std.pow(2)


def pathwise_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor,
    std: torch.Tensor | float = 1.0,
    *,
    n_samples: int = 1000,
    seed: int = 0,
) -> torch.Tensor:
    """Reparameterised estimates ``d/dtheta f(theta + std * eps)`` = ``f'(z)``: ``S x *theta``.

    Same ``eps`` draws as :func:`score_function_gradient` for the same ``seed``. Needs a
    differentiable ``f``; ``f`` must treat samples independently (each sample's value may only
    depend on its own ``z``), so one backward of the sum gives every per-sample gradient.
    """
    z = _gaussian_samples(theta, std, n_samples, seed)[2].detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(f(z).sum(), z)
    return grad  # dz/dtheta = 1, so d f(z)/d theta = f'(z) per sample


@dataclass(frozen=True)
class EstimatorComparison:
    """Mean and variance (per coordinate of ``theta``) of the two gradient estimators."""

    score_function_mean: torch.Tensor
    score_function_variance: torch.Tensor
    pathwise_mean: torch.Tensor
    pathwise_variance: torch.Tensor


def compare_gradient_estimators(
    f: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor | float,
    std: torch.Tensor | float = 1.0,
    *,
    n_samples: int = 100_000,
    seed: int = 0,
) -> EstimatorComparison:
    """The lecture-notes experiment: both estimators of ``d/dtheta E[f(z)]`` on the same draws.

    E.g. ``z ~ N(theta, 1)``, ``f(z) = z^2``: the true gradient is ``2 theta``; score-function
    samples ``z^2 (z - theta)`` are far noisier than pathwise samples ``2 z``.
    """
    theta = torch.as_tensor(theta, dtype=torch.float32)
    score = score_function_gradient(f, theta, std, n_samples=n_samples, seed=seed)
    path = pathwise_gradient(f, theta, std, n_samples=n_samples, seed=seed)
    return EstimatorComparison(
        score_function_mean=score.mean(dim=0),
        score_function_variance=score.var(dim=0),
        pathwise_mean=path.mean(dim=0),
        pathwise_variance=path.var(dim=0),
    )
