"""Synthetic data and small shared plumbing for advex's generative models (GAN, VAE, DRAW).

Why one helper file: the three generative models need the same few things — toy data with a
known answer (nothing is downloaded), seeded weight initialisation that never touches the global
RNG, a loud error when training goes non-finite, and checkpoint files readable with
``torch.load(weights_only=True)``. Keeping them here stops three copies drifting apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import torch
from torch import nn

from advex.config import UnknownConfigFieldError, dataclass_from_dict
from advex.file_format import FileFormat


class NonFiniteLossError(FloatingPointError, ValueError):
    """Training produced a NaN/inf loss; raised at once instead of silently wrecking weights."""


class GenerativeCheckpointError(ValueError):
    """A generative-model checkpoint file is missing, of the wrong kind or malformed."""


# --------------------------------------------------------------------------------- synthetic data


def normal_samples(n: int, mean: float = -1.0, std: float = 1.0, *, seed: int = 0) -> torch.Tensor:
    """``n x 1`` float32 samples of ``N(mean, std^2)`` (the 1-D GAN tutorial's target)."""
    if n <= 0 or std <= 0:
        raise ValueError(f"normal_samples: need n > 0 and std > 0, got n={n}, std={std}")
    gen = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn(n, 1, generator=gen)


def noisy_curve_2d(n: int, *, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """``n x 2`` points near a 1-D arc in the plane: 2-D data with 1-D latent structure.

    ``t ~ U(-1, 1)``, ``x = (t, t^2 - 0.5) + noise * N(0, I)``; a good VAE explains the data with
    one latent coordinate, so its ELBO rises well above that of an isotropic Gaussian fit.
    """
    if n <= 0 or noise < 0:
        raise ValueError(f"noisy_curve_2d: need n > 0 and noise >= 0, got n={n}, noise={noise}")
    gen = torch.Generator().manual_seed(seed)
    t = 2.0 * torch.rand(n, generator=gen) - 1.0
    clean = torch.stack([t, t * t - 0.5], dim=1)
    return clean + noise * torch.randn(n, 2, generator=gen)


def random_rectangle_images(
    n: int,
    height: int = 16,
    width: int = 16,
    *,
    max_shapes: int = 2,
    seed: int = 0,
) -> torch.Tensor:
    """``n x height x width`` float32 binary images of filled rectangles and 1-pixel strokes.

    Each image holds 1..``max_shapes`` shapes; a shape is a filled rectangle (sides 2..H/2 by
    2..W/2) or a horizontal/vertical stroke. Small, structured and free, so DRAW has something
    with edges to attend to without downloading MNIST. ``height != width`` is fine.
    """
    if n <= 0 or height < 4 or width < 4 or max_shapes < 1:
        raise ValueError(
            "random_rectangle_images: need n > 0, height >= 4, width >= 4, max_shapes >= 1; "
            f"got n={n}, height={height}, width={width}, max_shapes={max_shapes}"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((n, height, width), dtype=np.float32)
    for img in images:
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            kind = rng.integers(3)
            if kind == 0:  # filled rectangle
                h = int(rng.integers(2, max(3, height // 2 + 1)))
                w = int(rng.integers(2, max(3, width // 2 + 1)))
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                img[top : top + h, left : left + w] = 1.0
            elif kind == 1:  # horizontal stroke
                row = int(rng.integers(height))
                a, b = sorted(rng.integers(0, width + 1, size=2))
                img[row, a : max(b, a + 2)] = 1.0
            else:  # vertical stroke
                col = int(rng.integers(width))
                a, b = sorted(rng.integers(0, height + 1, size=2))
                img[a : max(b, a + 2), col] = 1.0
    return torch.from_numpy(images)


# ------------------------------------------------------------------------------------- plumbing


def as_float_tensor(data: Any, *, name: str, ndim: int) -> torch.Tensor:
    """``data`` (numpy or torch) as a float32 CPU tensor of ``ndim`` dims, else ``ValueError``."""
    tensor = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
    tensor = tensor.detach().to(dtype=torch.float32, device="cpu")
    if tensor.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name}: got an empty array")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name}: contains NaN or inf values")
    return tensor


def check_finite(loss: torch.Tensor, *, model: str, step: int, what: str = "loss") -> None:
    """Raise :class:`NonFiniteLossError` naming the model and step if ``loss`` is NaN/inf."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(
            f"{model}: {what} became {loss.detach().flatten()[0].item()} at step {step}; "
            "lower the learning rate or check the data for extreme values"
        )


def seeded_init_(module: nn.Module, seed: int) -> None:
    """Re-initialise every ``Linear``/``Conv2d``/``ConvTranspose2d``/``LSTMCell`` of ``module``
    from ``seed``, in place.

    Uses PyTorch's default bounds (``U(+-1/sqrt(fan_in))`` for Linear and convolutions,
    ``U(+-1/sqrt(hidden))`` for LSTM cells) but a private ``torch.Generator``, so building a
    model neither reads nor advances the global RNG and the same seed always gives the same
    weights.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(sub.weight)
                bound = 1.0 / math.sqrt(fan_in)
                sub.weight.uniform_(-bound, bound, generator=gen)
                if sub.bias is not None:
                    sub.bias.uniform_(-bound, bound, generator=gen)
            elif isinstance(sub, nn.LSTMCell):
                bound = 1.0 / math.sqrt(sub.hidden_size)
                for param in sub.parameters():
                    param.uniform_(-bound, bound, generator=gen)


ConfigT = TypeVar("ConfigT")


def checkpoint_format(model: str, version: int = 1) -> FileFormat:
    """The checkpoint file of one generative model (``"gan"``, ``"vae"``, ``"draw"``); bump
    ``version`` when a model's weights change (files of another version are refused)."""
    return FileFormat(f"advex-{model}", version, f"{model.upper()} checkpoint",
                      GenerativeCheckpointError)


def save_checkpoint(path: str | Path, file: FileFormat, *, config: Any, state_dict: dict) -> None:
    """Write ``{config (plain dict), state_dict}`` as ``file``: only types ``weights_only``
    loads, atomically."""
    if not is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"save_checkpoint: config must be a dataclass, got {type(config)}")
    file.save_tensors(path, {"config": asdict(config), "state_dict": state_dict})


def load_checkpoint(
    path: str | Path, file: FileFormat, *, config_type: type[ConfigT]
) -> tuple[ConfigT, dict]:
    """Read a :func:`save_checkpoint` file (``weights_only=True``); check its format."""
    blob = file.load_tensors(path, ("config", "state_dict"))
    try:
        config = dataclass_from_dict(config_type, blob["config"], file.what)
    except UnknownConfigFieldError as exc:
        raise file.fail(path, str(exc)) from None
    return config, blob["state_dict"]


class CheckpointMixin:
    """``save``/``load`` for an ``nn.Module`` built as ``cls(config)``: one checkpoint format
    for GAN, VAE and DRAW. Subclasses set ``checkpoint_file`` (e.g. ``checkpoint_format("gan")``)
    and ``config_type``; they must have a ``config`` attribute and ``state_dict``."""

    checkpoint_file: ClassVar[FileFormat]
    config_type: ClassVar[type[Any]]

    def save(self, path: str | Path) -> None:
        """Write config + weights (+ normaliser buffers), loadable with ``weights_only=True``."""
        save_checkpoint(
            path,
            self.checkpoint_file,
            config=self.config,  # type: ignore[attr-defined]
            state_dict=self.state_dict(),  # type: ignore[attr-defined]
        )

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Rebuild a model saved by :meth:`save` (on CPU)."""
        config, state = load_checkpoint(path, cls.checkpoint_file, config_type=cls.config_type)
        model = cls(config)  # type: ignore[call-arg]
        model.load_state_dict(state)  # type: ignore[attr-defined]
        return model
