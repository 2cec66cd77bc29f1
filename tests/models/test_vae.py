"""VAE: KL formula, ELBO improves on low-dimensional 2-D data, estimator variances, files."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from advex.models.generative_data import NonFiniteLossError, noisy_curve_2d
from advex.models.vae import (
    VAE,
    VAEConfig,
    compare_gradient_estimators,
    gaussian_log_likelihood,
    kl_to_standard_normal,
    pathwise_gradient,
    reparameterize,
    score_function_gradient,
)

# Tiny nets: one intra-op thread (see tests/models/conftest.py).
pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_kl_matches_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 3, generator=gen)
    log_var = torch.randn(7, 3, generator=gen)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl_to_standard_normal(mu, log_var), expected, atol=1e-5)


def test_gaussian_log_likelihood_matches_torch() -> None:
    gen = torch.Generator().manual_seed(1)
    x, mean, log_var = (torch.randn(5, 4, generator=gen) for _ in range(3))
    expected = Normal(mean, (0.5 * log_var).exp()).log_prob(x).sum(-1)
    assert torch.allclose(gaussian_log_likelihood(x, mean, log_var), expected, atol=1e-5)


def test_reparameterize_has_right_moments_and_gradient() -> None:
    mu = torch.full((200_000, 1), 2.0, requires_grad=True)
    log_var = torch.full((200_000, 1), 2 * torch.log(torch.tensor(3.0)).item())
    z = reparameterize(mu, log_var, torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 2.0) < 0.05 and abs(z.std().item() - 3.0) < 0.05
    z.sum().backward()
    assert mu.grad is not None and bool(
        (mu.grad == 1.0).all()
    )  # dz/dmu = 1: the gradient flows through the sample


@pytest.mark.parametrize("theta", [-1.0, 0.5, 2.0])
def test_both_estimators_unbiased_and_pathwise_has_lower_variance(theta: float) -> None:
    """Lecture-notes example: z ~ N(theta, 1), f(z) = z^2, true gradient 2 theta."""
    cmp = compare_gradient_estimators(lambda z: z**2, theta, n_samples=200_000, seed=0)
    assert abs(cmp.pathwise_mean.item() - 2 * theta) < 0.03
    assert abs(cmp.score_function_mean.item() - 2 * theta) < 0.1
    assert abs(cmp.pathwise_variance.item() - 4.0) < 0.1  # Var(2 z) = 4
    assert cmp.score_function_variance > 3 * cmp.pathwise_variance


def test_estimators_on_vector_theta_with_reducing_f() -> None:
    theta = torch.tensor([1.0, -2.0])
    score = score_function_gradient(lambda z: (z**2).sum(-1), theta, 0.5, n_samples=200_000)
    path = pathwise_gradient(lambda z: (z**2).sum(-1), theta, 0.5, n_samples=200_000)
    assert score.shape == path.shape == (200_000, 2)
    assert torch.allclose(path.mean(0), 2 * theta, atol=0.02)
    assert torch.allclose(score.mean(0), 2 * theta, atol=0.15)


@pytest.fixture(scope="module")
def curve_data() -> tuple[torch.Tensor, torch.Tensor]:
    return noisy_curve_2d(2_000, seed=0), noisy_curve_2d(1_000, seed=1)


@pytest.fixture(scope="module")
def fitted_vae(curve_data) -> tuple[VAE, float]:
    train, test = curve_data
    vae = VAE(VAEConfig(input_dim=2, latent_dim=1, steps=1000), seed=0)
    elbo_before = vae.elbo(test, n_samples=10).mean().item()
    history = vae.fit(train, seed=0, progress=False)
    assert len(history.loss) == 1000
    return vae, elbo_before


def test_elbo_improves_and_beats_a_gaussian_fit(curve_data, fitted_vae) -> None:
    train, test = curve_data
    vae, elbo_before = fitted_vae
    elbo_after = vae.elbo(test, n_samples=10).mean().item()
    assert elbo_after > elbo_before + 0.5
    # The data lie near a 1-D curve: a full-covariance Gaussian cannot capture that.
    gaussian = torch.distributions.MultivariateNormal(train.mean(0), torch.cov(train.T))
    assert elbo_after > gaussian.log_prob(test).mean().item() + 1.0


def test_samples_and_reconstructions_follow_the_curve(fitted_vae) -> None:
    vae, _ = fitted_vae
    x = vae.sample(2_000, seed=3)
    assert x.shape == (2_000, 2)
    off_curve = (x[:, 1] - (x[:, 0] ** 2 - 0.5)).abs()
    assert off_curve.median() < 0.15  # points hug y = x^2 - 0.5
    test = noisy_curve_2d(200, seed=5)
    mu, _ = vae.encode(test)
    assert (vae.decode(mu) - test).norm(dim=1).mean() < 0.2


def test_both_estimators_on_the_encoder_posterior(fitted_vae) -> None:
    vae, _ = fitted_vae
    x = noisy_curve_2d(3, seed=2)
    with torch.no_grad():
        mu, log_var = vae.encode(x)
    std = torch.exp(0.5 * log_var)
    score = score_function_gradient(lambda z: (z**2).sum(-1), mu, std, n_samples=20_000)
    path = pathwise_gradient(lambda z: (z**2).sum(-1), mu, std, n_samples=20_000)
    assert score.shape == path.shape == (20_000, 3, 1)
    assert torch.allclose(path.mean(0), 2 * mu.detach(), atol=0.05)  # d/dmu E[z^2] = 2 mu
    assert torch.all(score.var(0) > path.var(0))


def test_save_load_round_trip(tmp_path, fitted_vae) -> None:
    vae, _ = fitted_vae
    vae.save(tmp_path / "vae.pt")
    loaded = VAE.load(tmp_path / "vae.pt")
    x = noisy_curve_2d(10, seed=9)
    assert torch.equal(loaded.elbo(x, seed=1), vae.elbo(x, seed=1))
    assert torch.equal(loaded.normalizer.std, vae.normalizer.std)


def test_seeded_and_warm_start() -> None:
    data = noisy_curve_2d(200, seed=0)
    cfg = VAEConfig(steps=20)
    a, b = VAE(cfg, seed=3), VAE(cfg, seed=3)
    ha, hb = a.fit(data, seed=1, progress=False), b.fit(data, seed=1, progress=False)
    assert ha.loss == hb.loss
    h2 = a.fit(data, seed=2, progress=False)
    assert h2.loss[0] < ha.loss[0]  # continued from trained weights


def test_errors() -> None:
    vae = VAE(VAEConfig(input_dim=3), seed=0)
    with pytest.raises(ValueError, match="expected B x 3 input"):
        vae.fit(torch.zeros(10, 2), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        vae.fit(torch.full((10, 3), float("nan")), progress=False)
    with pytest.raises(ValueError, match="VAEConfig"):
        VAEConfig(latent_dim=0)
    with torch.no_grad():
        vae.decoder[-1].weight.fill_(float("inf"))
    with pytest.raises(NonFiniteLossError, match="VAE: loss became nan at step 0"):
        vae.fit(torch.randn(10, 3), progress=False)
