"""The GAN over a buffer's states: it learns held-out InvertedPendulum states about as well
as a Gaussian of the same states; `advex generative train --kind gan` and `sample`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advex.cli import main
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import collect
from advex.models.state_gan import state_sample_scores, train_state_gan

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def pendulum() -> ReplayBuffer:
    return collect("InvertedPendulum-v5", n_steps=3000, seed=0, progress=False)


def test_gan_learns_the_states_about_as_well_as_a_gaussian(pendulum: ReplayBuffer) -> None:
    """The GAN's samples move from an untrained generator's KS distance to held-out states
    (0.37-0.41 over seeds 0-2) to a Gaussian's level. It does not reliably beat the Gaussian:
    over seeds 0-4 at 2 000 steps (single thread, one AMD EPYC CPU) its mean KS was 0.11-0.18
    against the Gaussian's 0.11-0.15, better on 2 seeds of 5, and which seed wins changes with
    the CPU's rounding; so the bounds hold the whole spread seen, not one seed's value."""
    _, untrained = train_state_gan(pendulum, 1, seed=0, progress=False)
    _, figures = train_state_gan(pendulum, 2000, seed=0, progress=False)
    assert figures["gan_ks_mean"] < 0.6 * untrained["gan_ks_mean"], (figures, untrained)
    assert figures["gan_ks_mean"] < 1.6 * figures["gaussian_ks_mean"], figures


def test_sample_scores_are_ks_distances() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(size=(2000, 2))
    shifted = same + np.array([0.0, 10.0])  # dimension 1 fully separated
    scores = state_sample_scores(shifted, same)
    assert scores["ks_max"] == 1.0 and scores["ks_mean"] == pytest.approx(0.5)


def test_cli_trains_and_samples_a_state_gan(
    pendulum: ReplayBuffer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pendulum.save(tmp_path / "b.npz")  # no frames: a GAN does not need them
    out = tmp_path / "gan.pt"
    assert main(["generative", "train", "--kind", "gan", "--buffer", str(tmp_path / "b.npz"),
                 "--out", str(out), "--steps", "20", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "per-dimension KS" in printed and "gaussian" in printed
    assert main(["generative", "sample", "--model", str(out), "--out",
                 str(tmp_path / "s.png")]) == 0
    from matplotlib.image import imread

    assert imread(tmp_path / "s.png").shape[0] > 50
