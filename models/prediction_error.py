"""The one per-transition error that advex scores models by and that its adversaries maximise.

``error(s, a, s') = mean_d ((f_mean(s, a)_d - s'_d) / scale_d)^2``: the squared error of the
model's mean next state, each dimension divided by a per-dimension scale of the one-step delta
``s' - s``, averaged over dimensions. The yardstick (:mod:`advex.engine.metrics`,
``mse_1step``) uses the coverage set's delta std as ``scale``; the true-loss adversaries use the
same vector when the experiment hands it to them, and the model's own training delta std
otherwise (then the error equals ``TransitionModel.loss``).

How the model's training objective relates: an ensemble minimises a Gaussian NLL of the same
normalised delta with a learned variance; its mean gradient is the error above weighted by
``1 / var`` per row and dimension, so both share the minimiser (the conditional mean) but the
NLL lets a model discount rows it calls noisy. The MLP minimises the error above directly, in
its own training normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayOrTensor = np.ndarray | torch.Tensor


def normalised_sq_error(
    pred_next: ArrayOrTensor, next_obs: ArrayOrTensor, scale: ArrayOrTensor
) -> ArrayOrTensor:
    """Per-row error ``B`` of predicted next states ``B x O`` against true ``B x O`` in units
    of ``scale`` ``O`` (numpy in, numpy out; torch in, differentiable torch out)."""
    return (((pred_next - next_obs) / scale) ** 2).mean(-1)


def model_error(
    model: Any,
    obs: ArrayOrTensor,
    act: ArrayOrTensor,
    next_obs: ArrayOrTensor,
    scale: np.ndarray | None = None,
) -> ArrayOrTensor:
    """:func:`normalised_sq_error` of ``model.predict``'s mean, ``B``.

    ``scale`` ``O``: the yardstick's delta scale; ``None`` uses the model's own training
    normaliser, i.e. ``model.loss``. Torch inputs give a result differentiable w.r.t. ``obs``
    and ``act``.
    """
    if scale is None:
        return model.loss(obs, act, next_obs)
    mean, _ = model.predict(obs, act)
    if isinstance(mean, torch.Tensor):
        scale_t = torch.as_tensor(scale, dtype=mean.dtype, device=mean.device)
        return normalised_sq_error(mean, torch.as_tensor(next_obs, dtype=mean.dtype), scale_t)
    return normalised_sq_error(
        np.asarray(mean, np.float64), np.asarray(next_obs, np.float64), np.asarray(scale)
    )
