"""A frame model of a task: a :class:`FrameVAE` (frames -> latent state) and the
:class:`LatentDynamics` on its latents, trained on a buffer's frames and kept in one file.

Training (:func:`train_frame_model`): the VAE on the frames of the buffer's training episodes,
then, with the VAE fixed, the latent dynamics on the encoded transitions. Held-out episodes
(a fixed share, whole episodes so no frame's neighbour leaks into training) give the ELBO and
the reconstruction error; :func:`advex.models.latent_dynamics.frame_errors` scores predictions.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advex.config import dataclass_from_dict
from advex.envs.frames import FrameError
from advex.file_format import FileFormat

from .frame_vae import FrameVAE, FrameVAEConfig
from .generative_data import GenerativeCheckpointError
from .latent_dynamics import (
    LatentDynamics,
    LatentDynamicsConfig,
    episode_windows,
    fit_latent_dynamics,
    frame_errors,
)

FRAME_MODEL_FILE = FileFormat("advex-frame-model", 2, "frame model", GenerativeCheckpointError)


@dataclass
class FrameModel:
    """The VAE, its latent dynamics, and the task whose frames they learned."""

    vae: FrameVAE
    dynamics: LatentDynamics
    task: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        FRAME_MODEL_FILE.save_tensors(path, {
            "task": self.task,
            "meta": dict(self.meta),
            "vae_config": asdict(self.vae.config),
            "dynamics_config": asdict(self.dynamics.config),
            "act_dim": self.dynamics.act_dim,
            "vae": self.vae.state_dict(),
            "dynamics": self.dynamics.state_dict(),
        })

    @classmethod
    def load(cls, path: str | os.PathLike) -> FrameModel:
        blob = FRAME_MODEL_FILE.load_tensors(
            path, ("task", "vae_config", "dynamics_config", "act_dim", "vae", "dynamics")
        )
        vae = FrameVAE(dataclass_from_dict(FrameVAEConfig, blob["vae_config"], "frame VAE"))
        vae.load_state_dict(blob["vae"])
        dynamics = LatentDynamics(
            vae.config.latent_dim, int(blob["act_dim"]),
            dataclass_from_dict(LatentDynamicsConfig, blob["dynamics_config"], "dynamics"),
        )
        dynamics.load_state_dict(blob["dynamics"])
        return cls(vae.eval(), dynamics.eval(), str(blob["task"]), dict(blob.get("meta", {})))


def episode_split(episode_id: np.ndarray, held_out: float) -> tuple[np.ndarray, np.ndarray]:
    """``(train rows, held-out rows)``: the last ``held_out`` share of the episodes (at least
    one, when there are two or more) is held out whole."""
    episodes = np.unique(episode_id)
    n_out = int(round(held_out * len(episodes))) if len(episodes) > 1 else 0
    n_out = max(1, n_out) if held_out > 0 and len(episodes) > 1 else n_out
    out = np.isin(episode_id, episodes[len(episodes) - n_out:])
    return np.flatnonzero(~out), np.flatnonzero(out)


#: Prediction horizons scored on the held-out episodes by :func:`train_frame_model`.
HELD_OUT_HORIZONS: tuple[int, ...] = (1, 5)


def held_out_frame_errors(
    vae: FrameVAE, dynamics: LatentDynamics, windows: np.ndarray, frame: np.ndarray,
    next_frame: np.ndarray, act: np.ndarray, horizon: int, max_windows: int = 2000,
) -> dict[str, float]:
    """:func:`frame_errors` on buffer windows (``W x (horizon + 1)`` rows of one episode
    each, the first the context step): model, ``z' = z`` and copy MSE. At most
    ``max_windows`` windows, evenly spaced, bound the memory."""
    windows = windows[np.linspace(0, len(windows) - 1, min(len(windows), max_windows)).astype(int)]
    frames = np.concatenate([frame[windows], next_frame[windows[:, -1]][:, None]], axis=1)
    return frame_errors(vae, dynamics, frames, act[windows], horizon=horizon)


def train_frame_model(
    buffer: Any,
    vae_config: FrameVAEConfig | None = None,
    dynamics_config: LatentDynamicsConfig | None = None,
    *,
    held_out: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> tuple[FrameModel, dict[str, float]]:
    """Train on ``buffer``'s frames (a buffer without frames is one line); return the model
    and its held-out figures: mean ELBO (nats per frame), reconstruction MSE (pixels as
    ``frame / 255``), the mean-frame baseline's MSE, and per horizon in
    :data:`HELD_OUT_HORIZONS` (where held-out episodes are long enough) the frame-prediction
    MSE of the model, ``z' = z`` and copy-the-frame (``heldout_<k>step_<name>``)."""
    if not getattr(buffer, "has_frames", False):
        raise FrameError("this buffer holds no frames; collect with frames "
                         "(advex collect --frames 64)")
    frame, next_frame = buffer.frames()
    config = vae_config or FrameVAEConfig(frame_shape=buffer.frame_shape)
    if tuple(config.frame_shape) != tuple(buffer.frame_shape):
        raise FrameError(f"the VAE expects frames {config.frame_shape}, the buffer holds "
                         f"{buffer.frame_shape}")
    train, test = episode_split(buffer.episode_id, held_out)
    act = buffer.batch().act
    vae = FrameVAE(config, seed=seed)
    vae.fit(frame[train], seed=seed, progress=progress)
    vae.eval()
    episode_id = buffer.episode_id
    dynamics = fit_latent_dynamics(vae, frame[train], act[train], next_frame[train],
                                   episode_id[train], dynamics_config, seed=seed,
                                   progress=progress).eval()
    figures: dict[str, float] = {}
    if len(test):
        held = frame[test]
        unit = held.astype(np.float32) / 255.0
        chunks = range(0, len(held), 512)  # a large buffer's frames in bounded memory
        elbo = np.concatenate([vae.elbo(held[i:i + 512]).numpy() for i in chunks])
        recon = np.concatenate([vae.reconstruct(held[i:i + 512]).numpy() for i in chunks])
        figures = {
            "heldout_elbo": float(elbo.mean()),
            "heldout_recon_mse": float(((recon - unit) ** 2).mean()),
            "mean_frame_mse": float(((frame[train].mean(0) / 255.0 - unit) ** 2).mean()),
        }
        for horizon in HELD_OUT_HORIZONS:
            windows = test[episode_windows(episode_id[test], horizon + 1)]
            if len(windows):
                figures.update({
                    f"heldout_{horizon}step_{name}": value
                    for name, value in held_out_frame_errors(
                        vae, dynamics, windows, frame, next_frame, act, horizon).items()
                })
    model = FrameModel(vae, dynamics, buffer.meta.get("task", ""))
    return model, figures
