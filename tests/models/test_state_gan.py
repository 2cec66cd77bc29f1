"""The GAN over a buffer's states: it beats a Gaussian of the same states on held-out
InvertedPendulum states; `advex generative train --kind gan` and `sample`."""

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


def test_gan_beats_a_gaussian_of_the_same_states(pendulum: ReplayBuffer) -> None:
    """Two moments are not the states' distribution (the pole's velocities are heavy-
    tailed): the GAN's samples sit closer to held-out states than the Gaussian's, near the
    floor the training states themselves give."""
    _, figures = train_state_gan(pendulum, 2000, seed=0, progress=False)
    assert figures["gan_ks_mean"] < 0.9 * figures["gaussian_ks_mean"], figures
    assert figures["gan_ks_mean"] < 1.2 * figures["train_ks_mean"], figures


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
