"""DRAW: a recurrent VAE that paints an image over T glimpses (Gregor et al. 2015).

Why in advex: DRAW models image observations (rendered robot views) by progressive
refinement — each step reads a patch of the input and of the current error, encodes it with an
LSTM, samples a latent, and an LSTM decoder writes a patch onto a canvas. Attention makes each
step look at and paint a small ``N x N`` region through Gaussian filterbanks, which is easier
to learn than the whole image at once.

Equations (paper numbering): ``x_hat = x - sigmoid(c_{t-1})``; ``r_t = read(x, x_hat,
h_dec_{t-1})``; ``h_enc_t = LSTM_enc(h_enc_{t-1}, [r_t, h_dec_{t-1}])``; ``z_t ~ q(z|h_enc_t)``
(reparameterised); ``h_dec_t = LSTM_dec(h_dec_{t-1}, z_t)``; ``c_t = c_{t-1} + write(h_dec_t)``.
Attention (eqs 19-27): ``(g~x, g~y, log s^2, log d~, log gamma) = W h_dec``,
``g_x = (A+1)/2 (g~x+1)``, ``g_y = (B+1)/2 (g~y+1)``, ``delta = (max(A,B)-1)/(N-1) d~``,
``mu_x^i = g_x + (i - N/2 - 0.5) delta``, ``F_x[i,a] = exp(-(a-mu_x^i)^2 / 2s^2) / Z_x``
with ``Z_x`` the row sum (plus ``eps`` so an off-image glimpse gives 0, not NaN). Pixel
coordinates run ``1..A`` (width) and ``1..B`` (height). Loss = Bernoulli cross-entropy of
``sigmoid(c_T)`` (``eps`` inside the logs, the fix the tutorial needed against NaNs) + the KL
of every step's ``q(z_t)`` to ``N(0, I)``, both summed, averaged over the batch.

One departure from the paper: ``c_0`` is a learned image (``canvas_start``) that the first
``fit`` sets to the logits of the training images' mean, instead of 0 (grey). Robot frames are
mostly constant background, and through 5 x 5 write windows the paper's grey start leaves the
glimpses painting that background: attention then ended worse than the mean frame, with the
posterior unused (KL 0). ``canvas_from_mean=False`` restores the paper's start.

Shapes: ``B`` batch (the paper's ``B`` is the image height; here the height is ``H``),
``H x W`` image, ``N`` attention grid, ``L`` latent dim, ``T`` glimpses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from advex.seeding import isolated_global_rngs

from .generative_data import (
    CheckpointMixin,
    as_float_tensor,
    check_finite,
    checkpoint_format,
    seeded_init_,
)
from .vae import kl_to_standard_normal, reparameterize


@dataclass
class DRAWConfig:
    """Architecture and training of a :class:`DRAW` model (``height != width`` is fine)."""

    height: int = 16
    width: int = 16
    glimpses: int = 8  # T
    encoder_size: int = 128
    decoder_size: int = 128
    latent_dim: int = 10
    read_n: int = 5  # read grid N x N (attention only)
    write_n: int = 5  # write patch N x N (attention only)
    attention: bool = True  # False: read the whole image, write a full-size canvas update
    read_attention: bool = True  # False (with attention): read whole images, write a window
    # The canvas starts at the training images' mean (as logits, learned from there; the first
    # ``fit`` sets it), so the glimpses paint what differs from the mean image. False: start
    # at logits 0 (grey 0.5) as the paper does, which leaves write attention a whole
    # background to paint through small windows.
    canvas_from_mean: bool = True
    lr: float = 1e-3
    batch_size: int = 64
    train_steps: int = 500
    grad_clip: float = 5.0  # max global grad norm (the tutorial clipped too); 0 disables
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if min(self.height, self.width) < 2:
            raise ValueError(f"DRAWConfig: height and width must be >= 2, got {self}")
        sizes = (self.glimpses, self.encoder_size, self.decoder_size, self.latent_dim)
        if min(sizes) < 1 or min(self.read_n, self.write_n) < 2:
            raise ValueError(
                "DRAWConfig: glimpses, encoder/decoder sizes, latent_dim must be >= 1 and "
                f"read_n, write_n >= 2, got {self}"
            )
        if self.batch_size < 1 or self.train_steps < 0 or self.lr <= 0 or self.eps <= 0:
            raise ValueError("DRAWConfig: need batch_size>=1, train_steps>=0, lr>0, eps>0")


@dataclass
class DRAWHistory:
    """Per-step batch means (nats per image) of one :meth:`DRAW.fit` call."""

    loss: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)


class AttentionParams(NamedTuple):
    """Decoded glimpse parameters, each ``B``: centre ``(gx, gy)`` in 1-based pixel units,
    stride ``delta``, filter variance ``sigma2``, intensity ``gamma``."""

    gx: torch.Tensor
    gy: torch.Tensor
    delta: torch.Tensor
    sigma2: torch.Tensor
    gamma: torch.Tensor


class DRAWOutput(NamedTuple):
    """What one pass over a batch gives: final canvas logits ``c_T`` (``B x H x W``), the
    reconstruction loss and summed KL per image (``B`` each), canvases ``T x B x H x W`` and
    each step's write window (``None`` entries without attention)."""

    canvas_logits: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    canvases: torch.Tensor
    windows: tuple[AttentionParams | None, ...] = ()


def attention_params(raw: torch.Tensor, height: int, width: int, n: int) -> AttentionParams:
    """Paper eqs 21-24: ``raw`` (``B x 5`` = ``g~x, g~y, log s^2, log d~, log gamma``)."""
    gx_t, gy_t, log_sigma2, log_delta, log_gamma = raw.unbind(dim=-1)
    gx = (width + 1) / 2 * (gx_t + 1)
    gy = (height + 1) / 2 * (gy_t + 1)
    delta = (max(height, width) - 1) / (n - 1) * torch.exp(log_delta)
    return AttentionParams(gx, gy, delta, torch.exp(log_sigma2), torch.exp(log_gamma))


def filterbank(
    centre: torch.Tensor, delta: torch.Tensor, sigma2: torch.Tensor, n: int, size: int, eps: float
) -> torch.Tensor:
    """``N`` Gaussian bumps along one image axis: ``B x N x size``, rows sum to 1 (paper eqs
    19-20, 25-26); ``centre``/``delta``/``sigma2`` are ``B``.

    Row ``i`` (1-based) is centred at ``centre + (i - N/2 - 0.5) * delta`` over pixel
    coordinates ``1..size``; ``eps`` in the normaliser keeps off-image rows at 0 instead of NaN.
    """
    i = torch.arange(1, n + 1, dtype=centre.dtype, device=centre.device)
    mu = centre[:, None] + (i - n / 2 - 0.5) * delta[:, None]  # B x N
    a = torch.arange(1, size + 1, dtype=centre.dtype, device=centre.device)
    f = torch.exp(-((a[None, None, :] - mu[:, :, None]) ** 2) / (2 * sigma2[:, None, None]))
    return f / (f.sum(dim=-1, keepdim=True) + eps)


def filterbanks(
    params: AttentionParams, height: int, width: int, n: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(F_x B x N x W, F_y B x N x H)`` for a batch of glimpses."""
    fx = filterbank(params.gx, params.delta, params.sigma2, n, width, eps)
    fy = filterbank(params.gy, params.delta, params.sigma2, n, height, eps)
    return fx, fy


def read_glimpse(
    image: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """``gamma * F_y image F_x^T``: ``B x H x W`` -> ``B x N x N`` patch (paper eq 27)."""
    return gamma[:, None, None] * (fy @ image @ fx.transpose(1, 2))


def write_patch(
    patch: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """``(1 / gamma) F_y^T patch F_x``: ``B x N x N`` -> ``B x H x W`` (paper eq 29)."""
    return (fy.transpose(1, 2) @ patch @ fx) / gamma[:, None, None]


class DRAW(CheckpointMixin, nn.Module):
    """Deep Recurrent Attentive Writer over ``height x width`` images with values in ``[0, 1]``.

    ``forward(x)`` runs the full encoder/decoder recurrence and returns a :class:`DRAWOutput`;
    ``generate(n)`` runs the decoder alone from ``z_t ~ N(0, I)``.
    """

    checkpoint_file = checkpoint_format("draw", version=2)  # 2: the learned start canvas
    config_type = DRAWConfig
    canvas_start_set: torch.Tensor  # bool buffer: whether fit has set c_0 from the data

    def __init__(self, config: DRAWConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or DRAWConfig()
        cfg = self.config
        pixels = cfg.height * cfg.width
        read_size = cfg.read_n**2 if self.reads_glimpses else pixels
        write_size = cfg.write_n**2 if cfg.attention else pixels
        with isolated_global_rngs():
            self.encoder = nn.LSTMCell(2 * read_size + cfg.decoder_size, cfg.encoder_size)
            self.posterior = nn.Linear(cfg.encoder_size, 2 * cfg.latent_dim)  # mu, log_var
            self.decoder = nn.LSTMCell(cfg.latent_dim, cfg.decoder_size)
            self.write_content = nn.Linear(cfg.decoder_size, write_size)
            self.read_attention = nn.Linear(cfg.decoder_size, 5)
            self.write_attention = nn.Linear(cfg.decoder_size, 5)
        seeded_init_(self, seed)
        # c_0 (``H x W`` logits); learned. ``fit`` sets it once from the data (canvas_from_mean).
        self.canvas_start = nn.Parameter(torch.zeros(cfg.height, cfg.width))
        self.register_buffer("canvas_start_set", torch.tensor(False))

    # ------------------------------------------------------------------------- read / write
    @property
    def reads_glimpses(self) -> bool:
        """Whether :meth:`read` takes ``read_n x read_n`` glimpses (else whole images)."""
        return self.config.attention and self.config.read_attention

    def read(self, x: torch.Tensor, x_hat: torch.Tensor, h_dec: torch.Tensor) -> torch.Tensor:
        """``B x 2 read_size``: glimpses of image and error image (or both whole, without read
        attention)."""
        if not self.reads_glimpses:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1)
        cfg = self.config
        params = attention_params(self.read_attention(h_dec), cfg.height, cfg.width, cfg.read_n)
        fx, fy = filterbanks(params, cfg.height, cfg.width, cfg.read_n, cfg.eps)
        glimpses = [read_glimpse(img, fx, fy, params.gamma).flatten(1) for img in (x, x_hat)]
        return torch.cat(glimpses, dim=1)

    def write(self, h_dec: torch.Tensor) -> torch.Tensor:
        """Canvas update ``B x H x W`` from the decoder state."""
        return self._write(h_dec)[0]

    def _write(self, h_dec: torch.Tensor) -> tuple[torch.Tensor, AttentionParams | None]:
        """:meth:`write` and where it wrote (``None`` without attention)."""
        cfg = self.config
        content = self.write_content(h_dec)
        if not cfg.attention:
            return content.view(-1, cfg.height, cfg.width), None
        raw = self.write_attention(h_dec)
        params = attention_params(raw, cfg.height, cfg.width, cfg.write_n)
        fx, fy = filterbanks(params, cfg.height, cfg.width, cfg.write_n, cfg.eps)
        patch = content.view(-1, cfg.write_n, cfg.write_n)
        return write_patch(patch, fx, fy, params.gamma), params

    # ----------------------------------------------------------------------------- passes
    def _check_images(self, x: torch.Tensor, where: str) -> torch.Tensor:
        cfg = self.config
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 3 or tuple(x.shape[1:]) != (cfg.height, cfg.width):
            raise ValueError(
                f"DRAW.{where}: expected images B x {cfg.height} x {cfg.width}, "
                f"got {tuple(x.shape)}"
            )
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"DRAW.{where}: pixel values must lie in [0, 1] (Bernoulli loss)")
        return x

    def _zero_state(self, batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(batch, size)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> DRAWOutput:
        """Encode/decode ``x`` (``B x H x W`` in ``[0, 1]``) over ``T`` glimpses."""
        cfg = self.config
        x = self._check_images(x, "forward")
        batch = x.shape[0]
        canvas = self.canvas_start.expand_as(x)
        h_enc, c_enc = self._zero_state(batch, cfg.encoder_size)
        h_dec, c_dec = self._zero_state(batch, cfg.decoder_size)
        kl = torch.zeros(batch)
        canvases, windows = [], []
        for _ in range(cfg.glimpses):
            x_hat = x - torch.sigmoid(canvas)
            r = self.read(x, x_hat, h_dec)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], dim=1), (h_enc, c_enc))
            mu, log_var = self.posterior(h_enc).chunk(2, dim=1)
            log_var = log_var.clamp(-12.0, 6.0)  # keeps exp() finite
            z = reparameterize(mu, log_var, generator)
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            update, window = self._write(h_dec)
            canvas = canvas + update
            kl = kl + kl_to_standard_normal(mu, log_var)
            canvases.append(canvas)
            windows.append(window)
        return DRAWOutput(canvas, self.reconstruction_loss(x, canvas), kl, torch.stack(canvases),
                          tuple(windows))

    @torch.no_grad()
    def paint(
        self, x: torch.Tensor, *, seed: int = 0
    ) -> tuple[torch.Tensor, list[AttentionParams | None]]:
        """Reconstruct ``x`` step by step: ``sigmoid(c_t)`` of every glimpse
        (``T x B x H x W``) and where each step wrote (its write :class:`AttentionParams`,
        ``None`` without attention): the window's centre, stride and filter width."""
        out = self(x, torch.Generator().manual_seed(seed))
        return torch.sigmoid(out.canvases), list(out.windows)

    def reconstruction_loss(self, x: torch.Tensor, canvas_logits: torch.Tensor) -> torch.Tensor:
        """Bernoulli cross-entropy per image (``B``), ``eps`` inside the logs against NaN."""
        p = torch.sigmoid(canvas_logits)
        eps = self.config.eps
        bce = x * torch.log(p + eps) + (1 - x) * torch.log(1 - p + eps)
        return -bce.flatten(1).sum(dim=1)

    def loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, reconstruction, kl)`` batch means in nats per image; total = sum."""
        out = self(x, generator)
        recon, kl = out.reconstruction.mean(), out.kl.mean()
        return recon + kl, recon, kl

    @torch.no_grad()
    def generate(self, n: int, *, seed: int = 0, return_steps: bool = False) -> torch.Tensor:
        """``n`` images ``n x H x W`` in ``[0, 1]`` (``sigmoid(c_T)``) from the prior alone.

        ``return_steps``: every step's ``sigmoid(c_t)``, ``T x n x H x W`` (watch it paint).
        """
        cfg = self.config
        if n < 1:
            raise ValueError(f"DRAW.generate: n must be >= 1, got {n}")
        gen = torch.Generator().manual_seed(seed)
        canvas = self.canvas_start.expand(n, cfg.height, cfg.width)
        h_dec, c_dec = self._zero_state(n, cfg.decoder_size)
        steps = []
        for _ in range(cfg.glimpses):
            z = torch.randn(n, cfg.latent_dim, generator=gen)
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)
            steps.append(torch.sigmoid(canvas))
        return torch.stack(steps) if return_steps else steps[-1]

    # ----------------------------------------------------------------------------- training
    @torch.no_grad()
    def start_canvas_from(self, images: torch.Tensor) -> None:
        """With ``canvas_from_mean``, the first call sets ``c_0`` to the logits of the mean
        of ``images`` (``N x H x W`` in ``[0, 1]``; the mean clipped to ``[1e-4, 1 - 1e-4]``
        so the logits stay finite); later calls, and ``canvas_from_mean=False``, leave it.
        ``fit`` calls it before training."""
        if not self.config.canvas_from_mean or bool(self.canvas_start_set) or not len(images):
            return
        p = torch.as_tensor(images, dtype=torch.float32).mean(dim=0).clamp(1e-4, 1 - 1e-4)
        self.canvas_start.copy_(torch.logit(p))
        self.canvas_start_set.fill_(True)

    def fit(self, images: torch.Tensor, *, seed: int = 0, progress: bool = True) -> DRAWHistory:
        """Adam on minibatches of ``images`` (``N x H x W`` in ``[0, 1]``, numpy or torch).

        Continues from the current weights. Raises ``NonFiniteLossError`` if the loss or the
        gradient norm turns NaN/inf.
        """
        cfg = self.config
        images = self._check_images(as_float_tensor(images, name="DRAW.fit images", ndim=3), "fit")
        self.start_canvas_from(images)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        history = DRAWHistory()
        batch = min(cfg.batch_size, len(images))
        for step in tqdm(range(cfg.train_steps), desc="DRAW", disable=not progress):
            x = images[torch.randint(len(images), (batch,), generator=gen)]
            total, recon, kl = self.loss(x, gen)
            check_finite(total, model="DRAW", step=step)
            opt.zero_grad()
            total.backward()
            if cfg.grad_clip > 0:
                norm = nn.utils.clip_grad_norm_(self.parameters(), cfg.grad_clip)
                check_finite(norm, model="DRAW", step=step, what="gradient norm")
            opt.step()
            history.loss.append(total.item())
            history.reconstruction.append(recon.item())
            history.kl.append(kl.item())
        return history
