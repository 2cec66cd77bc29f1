"""Where DRAW paints: each glimpse's canvas with its write window drawn on top.

One row per frame (the true frame first), one column per glimpse ``t``: ``sigmoid(c_t)`` and,
with attention, a rectangle spanning the write filterbank's ``N x N`` centres
(``g +- (N - 1) / 2 * delta``, widened by the filters' std ``sigma``) with its centre marked;
the title of each column gives the batch-mean stride and width, so a window that zooms in
(small stride) or stays image-sized is visible at a glance.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from advex.atomic_io import atomic_write  # noqa: E402
from advex.models.draw import DRAW  # noqa: E402


def plot_draw_steps(model: DRAW, images: np.ndarray, path: Path, seed: int = 0) -> Path:
    """Save the painting of ``images`` (``B x H x W`` in ``[0, 1]``, a few) as a PNG."""
    canvases, windows = model.paint(torch.as_tensor(images), seed=seed)
    steps, rows = canvases.shape[0], canvases.shape[1]
    n = model.config.write_n
    fig, axes = plt.subplots(rows, steps + 1, figsize=(1.3 * (steps + 1), 1.4 * rows),
                             squeeze=False)
    try:
        for row in range(rows):
            axes[row][0].imshow(images[row], cmap="gray", vmin=0, vmax=1)
            axes[row][0].set_title("frame" if row == 0 else "", fontsize=7)
            for t in range(steps):
                ax = axes[row][t + 1]
                ax.imshow(canvases[t, row].numpy(), cmap="gray", vmin=0, vmax=1)
                window = windows[t]
                if window is not None:
                    gx, gy = float(window.gx[row]) - 1, float(window.gy[row]) - 1  # 0-based
                    half = (n - 1) / 2 * float(window.delta[row])
                    half += float(window.sigma2[row]) ** 0.5
                    ax.add_patch(Rectangle((gx - half, gy - half), 2 * half, 2 * half,
                                           fill=False, color="red", lw=0.8))
                    ax.plot(gx, gy, "r+", ms=4)
                    if row == 0:
                        stride = float(window.delta.mean())
                        width = float(window.sigma2.mean()) ** 0.5
                        ax.set_title(f"t={t + 1}\nd={stride:.1f} s={width:.1f}", fontsize=6)
                elif row == 0:
                    ax.set_title(f"t={t + 1}", fontsize=7)
        height, width = images.shape[1:]
        for ax in axes.flat:
            ax.set_xlim(-0.5, width - 0.5)  # a window reaching past the frame is cut off,
            ax.set_ylim(height - 0.5, -0.5)  # not allowed to shrink the frame
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    finally:
        plt.close(fig)
    return Path(path)
