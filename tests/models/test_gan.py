"""GAN: learns the 1-D tutorial target N(-1, 1); loss functions; noise; files; errors."""

from __future__ import annotations

import math

import pytest
import torch

from advex.models.gan import GAN, GANConfig, discriminator_loss, generator_loss
from advex.models.generative_data import (
    GenerativeCheckpointError,
    NonFiniteLossError,
    normal_samples,
)
from advex.models.vae import VAE, VAEConfig

# Tiny nets: one intra-op thread (see tests/models/conftest.py).
pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _d_of(gan: GAN, x: torch.Tensor) -> torch.Tensor:
    """``D(x)`` in ``(0, 1)`` for raw-unit ``x`` (``B x D``): the probability that it is real."""
    with torch.no_grad():
        return torch.sigmoid(gan.discriminator(gan.normalizer.normalize(x))).squeeze(-1)


def true_density(x: torch.Tensor) -> torch.Tensor:
    """Density of N(-1, 1) at ``x`` (``B x 1``) -> ``B``."""
    return torch.exp(-0.5 * (x[:, 0] + 1.0) ** 2) / math.sqrt(2 * math.pi)


@pytest.fixture(scope="module")
def trained_gan() -> GAN:
    gan = GAN(GANConfig(), seed=0)
    gan.fit(normal_samples(10_000, -1.0, 1.0, seed=1), seed=0, progress=False)
    return gan


def test_gan_learns_normal_minus_one_one(trained_gan: GAN) -> None:
    samples = trained_gan.sample(20_000, seed=3)
    assert samples.shape == (20_000, 1)
    assert abs(samples.mean().item() - (-1.0)) < 0.2
    assert abs(samples.std().item() - 1.0) < 0.25


def test_trained_discriminator_is_confused(trained_gan: GAN) -> None:
    """At the GAN equilibrium D(x) ~ 1/2 where the data lives."""
    d = _d_of(trained_gan, torch.linspace(-2.0, 0.0, 21)[:, None])
    assert ((d > 0.3) & (d < 0.7)).all(), d


def test_pretraining_fits_discriminator_to_density() -> None:
    """Tutorial trick: MSE pre-training makes D's decision surface peak at the data mode."""
    cfg = GANConfig(pretrain_d_steps=400, steps=0)
    gan = GAN(cfg, seed=0)
    history = gan.fit(normal_samples(5_000, seed=1), density=true_density, seed=0, progress=False)
    assert len(history.pretrain_mse) == 400 and not history.generator_loss
    assert history.pretrain_mse[-1] < 0.2 * history.pretrain_mse[0]
    grid = torch.linspace(-4.0, 2.0, 61)[:, None]
    d = _d_of(gan, grid)
    assert abs(grid[d.argmax(), 0].item() - (-1.0)) < 0.5
    assert torch.allclose(d, true_density(grid), atol=0.08)


def test_pretraining_without_density_uses_kde() -> None:
    gan = GAN(GANConfig(pretrain_d_steps=150, steps=0), seed=0)
    history = gan.fit(normal_samples(1_000, seed=1), seed=0, progress=False)
    assert history.pretrain_mse[-1] < 0.01


def test_non_saturating_gradient_beats_minimax_when_d_rejects_fakes() -> None:
    """When D(G(z)) ~ 0, log(1 - D) is flat; -log D still pushes G hard."""
    gan = GAN(GANConfig(), seed=0)
    with torch.no_grad():
        gan.discriminator[-1].bias.fill_(-8.0)  # D confidently says "fake" everywhere
    z = gan.sample_noise(256, torch.Generator().manual_seed(0))

    def generator_grad_norm(kind: str) -> float:
        gan.zero_grad()
        fake_logits = gan.discriminator(gan.generate_normalized(z, averaged=False))
        assert torch.sigmoid(fake_logits).max() < 0.01
        generator_loss(fake_logits, kind).backward()
        grads = [p.grad.flatten() for p in gan.generator.parameters()]
        return torch.cat(grads).norm().item()

    non_saturating = generator_grad_norm("non_saturating")
    minimax = generator_grad_norm("minimax")
    assert non_saturating > 50 * minimax > 0


def test_loss_formulas_match_definitions() -> None:
    logits = torch.tensor([[-2.0], [0.5], [3.0]])
    d = torch.sigmoid(logits)
    assert torch.allclose(generator_loss(logits, "non_saturating"), -torch.log(d).mean())
    assert torch.allclose(generator_loss(logits, "minimax"), torch.log(1 - d).mean())
    expected = -(torch.log(d).mean() + torch.log(1 - d).mean())
    assert torch.allclose(discriminator_loss(logits, logits), expected)
    with pytest.raises(ValueError, match="unknown kind"):
        generator_loss(logits, "wasserstein")  # type: ignore[arg-type, unused-ignore]


def test_aligned_noise_is_stratified_and_sorted() -> None:
    gan = GAN(GANConfig(noise="uniform", noise_low=-5.0, noise_high=5.0), seed=0)
    z = gan.sample_noise(100, torch.Generator().manual_seed(1))[:, 0]
    assert torch.all(z[1:] > z[:-1])
    cells = torch.floor((z + 5.0) / 0.1).long()  # exactly one point per cell of width 0.1
    assert torch.equal(cells, torch.arange(100))
    normal = GAN(GANConfig(noise_std=2.0), seed=0)  # the default: normal quantiles
    z = normal.sample_noise(100, torch.Generator().manual_seed(1))[:, 0]
    assert torch.all(z[1:] > z[:-1])
    cells = torch.floor(torch.special.ndtr(z / 2.0) / 0.01).long()  # one per 1 % of mass
    assert torch.equal(cells, torch.arange(100))


def test_normal_noise_reaches_the_tails_uniform_noise_cannot(trained_gan: GAN) -> None:
    """The tutorial's U(-5, 5) noise makes G learn the normal quantile function, which is
    bounded on [-5, 5] and steepest where tanh units flatten: its samples stop short of the
    target's 1 % and 99 % points. Normal noise (the default, ``trained_gan``) reaches both."""
    target = torch.tensor([-3.326, 1.326])  # 1 % and 99 % points of N(-1, 1)
    levels = torch.tensor([0.01, 0.99])
    normal = torch.quantile(trained_gan.sample(50_000, seed=3)[:, 0], levels)
    assert torch.allclose(normal, target, atol=0.3), normal
    tutorial = GAN(GANConfig(noise="uniform"), seed=0)
    tutorial.fit(normal_samples(10_000, -1.0, 1.0, seed=1), seed=0, progress=False)
    samples = tutorial.sample(50_000, seed=3)[:, 0]
    assert samples.max() < target[1] and samples.min() > target[0], (samples.min(), samples.max())


def test_vector_data_with_normalisation_runs_and_round_trips(tmp_path) -> None:
    """Generic use: 3-D 'robot states' on a very different scale."""
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(1_000, 3, generator=gen) * torch.tensor([10.0, 0.1, 1.0]) + 5.0
    cfg = GANConfig(
        data_dim=3, noise_dim=2, aligned_noise=False, normalize=True, steps=400,
        noise_low=-1.0, noise_high=1.0, generator_hidden=(16, 16),
    )  # fmt: skip
    gan = GAN(cfg, seed=0)
    history = gan.fit(data, seed=0, progress=False)
    assert len(history.generator_loss) == 400
    samples = gan.sample(2_000, seed=1)
    assert samples.shape == (2_000, 3)
    assert torch.allclose(samples.mean(0), data.mean(0), atol=0.5 * float(data.std(0).max()))

    gan.save(tmp_path / "gan.pt")
    loaded = GAN.load(tmp_path / "gan.pt")
    assert loaded.config == cfg
    assert torch.equal(loaded.sample(50, seed=2), gan.sample(50, seed=2))


def test_same_seed_same_result_and_global_rng_untouched() -> None:
    data = normal_samples(500, seed=1)
    cfg = GANConfig(steps=50)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = GAN(cfg, seed=4), GAN(cfg, seed=4)
    a.fit(data, seed=2, progress=False)
    b.fit(data, seed=2, progress=False)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a.sample(20), b.sample(20))


def test_nan_loss_raises_clear_error() -> None:
    gan = GAN(GANConfig(steps=5), seed=0)
    with torch.no_grad():
        gan.discriminator[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="GAN: discriminator loss became nan at step 0"):
        gan.fit(normal_samples(100), progress=False)


def test_bad_inputs_raise_value_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="aligned_noise"):
        GANConfig(data_dim=2)
    with pytest.raises(ValueError, match="generator_loss"):
        GANConfig(generator_loss="hinge")  # type: ignore[arg-type, unused-ignore]
    gan = GAN(GANConfig(), seed=0)
    with pytest.raises(ValueError, match="2 columns"):
        gan.fit(torch.zeros(10, 2), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        gan.fit(torch.full((10, 1), float("nan")), progress=False)
    with pytest.raises(GenerativeCheckpointError, match="no such GAN checkpoint"):
        GAN.load(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(GenerativeCheckpointError, match="other.pt: not an advex GAN checkpoint"):
        GAN.load(tmp_path / "other.pt")
    VAE(VAEConfig()).save(tmp_path / "vae.pt")
    with pytest.raises(GenerativeCheckpointError, match="its format is 'advex-vae'"):
        GAN.load(tmp_path / "vae.pt")
