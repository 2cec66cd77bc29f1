"""DRAW: Gaussian filterbanks, read/write attention, loss, training, generation, shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advex.models.draw import (
    DRAW,
    AttentionParams,
    DRAWConfig,
    attention_params,
    filterbanks,
    read_glimpse,
    write_patch,
)
from advex.models.generative_data import (
    GenerativeCheckpointError,
    NonFiniteLossError,
    checkpoint_format,
    random_rectangle_images,
)

# Tiny nets: one intra-op thread (see tests/models/conftest.py).
pytestmark = pytest.mark.usefixtures("single_torch_thread")


def small_config(**overrides) -> DRAWConfig:
    base = dict(
        height=16, width=16, glimpses=4, encoder_size=48, decoder_size=48, latent_dim=6,
        read_n=4, write_n=4, batch_size=32, train_steps=40, lr=3e-3,
    )  # fmt: skip
    base.update(overrides)
    return DRAWConfig(**base)


def one(value: float, batch: int = 1) -> torch.Tensor:
    return torch.full((batch,), float(value))


@pytest.mark.parametrize(("height", "width"), [(16, 16), (12, 20)])
def test_filterbank_rows_sum_to_one(height: int, width: int) -> None:
    """Any glimpse whose bumps sit on the image (g~ in [-.5, .5], stride < default)."""
    gen = torch.Generator().manual_seed(0)
    low, high = torch.tensor([-0.5, -0.5, -1.0, -2.0, -1.0]), torch.tensor([0.5, 0.5, 1, -1, 1])
    raw = low + (high - low) * torch.rand(8, 5, generator=gen)
    params = attention_params(raw, height, width, n=5)
    fx, fy = filterbanks(params, height, width, n=5, eps=1e-8)
    assert fx.shape == (8, 5, width) and fy.shape == (8, 5, height)
    assert torch.allclose(fx.sum(-1), torch.ones(8, 5), atol=1e-5)
    assert torch.allclose(fy.sum(-1), torch.ones(8, 5), atol=1e-5)
    assert (fx >= 0).all() and (fy >= 0).all()


def test_centred_stride_one_glimpse_covering_image_reads_the_image() -> None:
    """raw = 0 decodes to the centre, stride (max(A,B)-1)/(N-1) = 1; tiny sigma -> identity."""
    image = random_rectangle_images(2, 8, 8, seed=3)
    raw = torch.tensor([[0.0, 0.0, -10.0, 0.0, 0.0]]).repeat(2, 1)  # log sigma^2 = -10
    params = attention_params(raw, 8, 8, n=8)
    assert torch.allclose(params.gx, one(4.5, 2)) and torch.allclose(params.delta, one(1.0, 2))
    fx, fy = filterbanks(params, 8, 8, n=8, eps=1e-8)
    assert torch.allclose(read_glimpse(image, fx, fy, params.gamma), image, atol=1e-5)


def test_centred_glimpse_on_non_square_image_reads_the_central_patch() -> None:
    image = torch.arange(6 * 10, dtype=torch.float32).view(1, 6, 10)
    params = AttentionParams(
        gx=one((10 + 1) / 2), gy=one((6 + 1) / 2), delta=one(1), sigma2=one(1e-4), gamma=one(2)
    )
    fx, fy = filterbanks(params, 6, 10, n=4, eps=1e-8)
    patch = read_glimpse(image, fx, fy, params.gamma)
    assert torch.allclose(patch[0], 2 * image[0, 1:5, 3:7], atol=1e-4)  # gamma scales reads
    # write is the transpose of read: it paints the patch back at the same place, / gamma
    canvas = write_patch(patch, fx, fy, params.gamma)
    expected = torch.zeros(6, 10)
    expected[1:5, 3:7] = image[0, 1:5, 3:7]
    assert torch.allclose(canvas[0], expected, atol=1e-3)


def test_stride_spreads_the_grid() -> None:
    params = AttentionParams(one(8.5), one(8.5), one(3.0), one(1e-4), one(1))
    fx, _ = filterbanks(params, 16, 16, n=4, eps=1e-8)
    centres = (fx[0] * torch.arange(1, 17.0)).sum(-1)
    assert torch.allclose(centres, torch.tensor([4.0, 7.0, 10.0, 13.0]), atol=1e-3)


def test_off_image_glimpse_gives_zeros_not_nan() -> None:
    params = AttentionParams(one(1e4), one(1e4), one(1.0), one(0.5), one(1))
    fx, fy = filterbanks(params, 8, 8, n=3, eps=1e-8)
    assert torch.isfinite(fx).all() and torch.isfinite(fy).all() and fx.abs().max() == 0


def test_reconstruction_loss_is_bernoulli_cross_entropy_and_finite() -> None:
    model = DRAW(small_config(height=4, width=4), seed=0)
    x = random_rectangle_images(3, 4, 4, seed=0)
    logits = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2))
    assert torch.allclose(model.reconstruction_loss(x, logits), expected, atol=1e-4)
    extreme = model.reconstruction_loss(x, torch.where(x > 0.5, -1e4, 1e4))  # sigmoid = 0 / 1
    assert torch.isfinite(extreme).all() and (extreme > 100).all()


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize(("height", "width"), [(16, 16), (12, 20)])
def test_training_lowers_loss_and_generates_images(attention: bool, height: int, width: int):
    images = random_rectangle_images(256, height, width, seed=0)
    model = DRAW(small_config(height=height, width=width, attention=attention), seed=0)
    history = model.fit(images, seed=0, progress=False)
    assert len(history.loss) == 40
    # The canvas starts at the mean image, so the model must beat the mean image's
    # cross-entropy (it encodes each image), not just fall from a grey canvas.
    p = images.mean(dim=0).clamp(1e-4, 1 - 1e-4)
    mean_image = float(-(images * p.log() + (1 - images) * (1 - p).log()).sum((1, 2)).mean())
    assert sum(history.loss[-5:]) / 5 < min(history.loss[0], mean_image)
    assert all(k >= 0 for k in history.kl)

    out = model(images[:5], torch.Generator().manual_seed(0))
    assert out.canvas_logits.shape == (5, height, width)
    assert out.canvases.shape == (4, 5, height, width)
    assert torch.allclose(out.canvases[-1], out.canvas_logits)

    generated = model.generate(7, seed=1)
    assert generated.shape == (7, height, width)
    assert (generated >= 0).all() and (generated <= 1).all()
    steps = model.generate(7, seed=1, return_steps=True)
    assert steps.shape == (4, 7, height, width)
    assert torch.equal(steps[-1], generated)


def test_whole_image_reads_with_attentive_writes() -> None:
    """``read_attention=False``: the encoder reads both whole images (2 H W inputs) while
    the writes keep their windows."""
    model = DRAW(small_config(height=12, width=20, read_attention=False), seed=0)
    assert not model.reads_glimpses and model.encoder.input_size == 2 * 12 * 20 + 48
    images = random_rectangle_images(4, 12, 20, seed=0)
    h_dec = torch.zeros(4, model.config.decoder_size)
    read = model.read(images, images - 0.5, h_dec)
    torch.testing.assert_close(read[:, : 12 * 20], images.flatten(1))
    out = model(images, torch.Generator().manual_seed(0))
    assert all(w is not None for w in out.windows)


def test_save_load_round_trip(tmp_path) -> None:
    model = DRAW(small_config(height=12, width=20), seed=5)
    model.save(tmp_path / "draw.pt")
    loaded = DRAW.load(tmp_path / "draw.pt")
    assert loaded.config == model.config
    assert torch.equal(loaded.generate(3, seed=2), model.generate(3, seed=2))


def test_same_seed_same_model() -> None:
    a, b = DRAW(small_config(), seed=1), DRAW(small_config(), seed=1)
    assert torch.equal(a.generate(2), b.generate(2))
    assert not torch.equal(a.generate(2), DRAW(small_config(), seed=2).generate(2))


def test_errors() -> None:
    model = DRAW(small_config(), seed=0)
    with pytest.raises(ValueError, match="expected images B x 16 x 16"):
        model.fit(torch.zeros(4, 16, 15), progress=False)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        model.fit(torch.full((4, 16, 16), 2.0), progress=False)
    with pytest.raises(ValueError, match="read_n"):
        DRAWConfig(read_n=1)
    with torch.no_grad():
        model.posterior.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="DRAW: loss became nan at step 0"):
        model.fit(random_rectangle_images(8, seed=0), progress=False)


def test_first_fit_starts_the_canvas_at_the_mean_image_and_keeps_it(tmp_path) -> None:
    """``canvas_from_mean``: before any glimpse, ``sigmoid(c_0)`` is the training images' mean,
    so the glimpses paint what differs from it; later fits continue from the learned ``c_0``."""
    images = random_rectangle_images(64, 12, 20, seed=0)
    model = DRAW(small_config(height=12, width=20, train_steps=0), seed=0)
    assert torch.equal(model.canvas_start, torch.zeros(12, 20))  # before fit: the paper's 0
    model.fit(images, progress=False)
    expected = images.mean(dim=0).clamp(1e-4, 1 - 1e-4)
    torch.testing.assert_close(torch.sigmoid(model.canvas_start), expected)
    with torch.no_grad():
        model.canvas_start.add_(0.5)  # as training would move it
    moved = model.canvas_start.clone()
    model.fit(images * 0.5, progress=False)
    assert torch.equal(model.canvas_start, moved)  # not reset by a second fit
    with torch.no_grad():  # no writes: the canvas stays c_0 through every glimpse
        model.write_content.weight.zero_()
        model.write_content.bias.zero_()
    torch.testing.assert_close(model.generate(2), torch.sigmoid(moved).expand(2, 12, 20))
    model.save(tmp_path / "draw.pt")
    torch.testing.assert_close(DRAW.load(tmp_path / "draw.pt").canvas_start, moved)

    paper = DRAW(small_config(height=12, width=20, train_steps=0, canvas_from_mean=False))
    paper.fit(images, progress=False)
    assert torch.equal(paper.canvas_start, torch.zeros(12, 20))


def test_checkpoint_of_the_old_zero_canvas_format_is_refused(tmp_path) -> None:
    old = checkpoint_format("draw", version=1)
    old.save_tensors(tmp_path / "old.pt", {"config": {}, "state_dict": {}})
    with pytest.raises(GenerativeCheckpointError, match="version"):
        DRAW.load(tmp_path / "old.pt")
