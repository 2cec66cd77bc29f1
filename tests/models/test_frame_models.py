"""Frame models: the convolutional VAE on robot frames, latent dynamics, their yardstick, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advex.analysis.coverage_frames import coverage_frames, frame_model_errors, long_starts
from advex.cli import main
from advex.engine.coverage import CoverageConfig, build_coverage_set
from advex.envs.frames import FrameError, FrameSpec
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import collect
from advex.models.frame_model import FrameModel, episode_split, train_frame_model
from advex.models.frame_vae import FrameVAE, FrameVAEConfig
from advex.models.latent_dynamics import LatentDynamics, LatentDynamicsConfig, frame_errors

SMALL_VAE = FrameVAEConfig(frame_shape=(16, 16, 1), channels=(16, 16), latent_dim=4, steps=150,
                           kl_warmup_steps=50)
SMALL_DYNAMICS = LatentDynamicsConfig(hidden_sizes=(32,), steps=300)
TINY_COVERAGE = CoverageConfig(n_starts=40, n_sb3_steps=0, frac_sb3=0.0, frac_random=0.5,
                               n_random_rollout_steps=400, n_bang_bang_steps=200)


@pytest.fixture(scope="module")
def frames_buffer() -> ReplayBuffer:
    return collect("InvertedPendulum-v5", n_steps=600, seed=1, progress=False,
                   frames=FrameSpec(16))


@pytest.fixture(scope="module")
def trained(frames_buffer: ReplayBuffer) -> tuple[FrameModel, dict[str, float]]:
    return train_frame_model(frames_buffer, SMALL_VAE, SMALL_DYNAMICS, seed=0, progress=False)


def test_vae_loss_falls_on_robot_frames(frames_buffer: ReplayBuffer) -> None:
    vae = FrameVAE(SMALL_VAE, seed=0)
    history = vae.fit(frames_buffer.frames()[0], seed=0, progress=False)
    first, last = np.mean(history.loss[:10]), np.mean(history.loss[-10:])
    assert last < 0.2 * first, (first, last)
    assert all(np.isfinite(history.loss))


def test_same_seed_same_model(frames_buffer: ReplayBuffer) -> None:
    frames = frames_buffer.frames()[0][:200]
    config = FrameVAEConfig(**{**SMALL_VAE.__dict__, "steps": 5})
    a, b = FrameVAE(config, seed=3), FrameVAE(config, seed=3)
    a.fit(frames, seed=1, progress=False)
    b.fit(frames, seed=1, progress=False)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_held_out_episodes_are_whole_and_figures_reported(
    frames_buffer: ReplayBuffer, trained: tuple[FrameModel, dict[str, float]]
) -> None:
    train, test = episode_split(frames_buffer.episode_id, 0.1)
    assert not set(frames_buffer.episode_id[train]) & set(frames_buffer.episode_id[test])
    assert len(train) + len(test) == len(frames_buffer) and len(test) > 0
    _, figures = trained
    assert {"heldout_elbo", "heldout_recon_mse", "mean_frame_mse"} <= set(figures)
    assert {"heldout_1step_model", "heldout_1step_constant", "heldout_1step_copy"} <= set(figures)
    assert np.isfinite(list(figures.values())).all()


def test_frame_errors_baselines_are_what_they_say(trained: tuple[FrameModel, dict]) -> None:
    model, _ = trained
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 4, 16, 16, 1), dtype=np.uint8)
    actions = rng.uniform(-1, 1, size=(5, 3, 1)).astype(np.float32)
    still = LatentDynamics(model.vae.config.latent_dim, 1)
    torch.nn.init.zeros_(still.net[-1].weight)
    torch.nn.init.zeros_(still.net[-1].bias)  # z' = z exactly: the model is the constant
    errors = frame_errors(model.vae, still, frames, actions, horizon=2)
    assert errors["model"] == pytest.approx(errors["constant"], rel=1e-6)
    unit = frames.astype(np.float64) / 255  # frame 0 is context; predictions start at 1
    assert errors["copy"] == pytest.approx(((unit[:, 1] - unit[:, 3]) ** 2).mean(), rel=1e-5)
    with pytest.raises(ValueError, match="shorter than the context step plus the horizon"):
        frame_errors(model.vae, still, frames, actions, horizon=3)


def test_latent_dynamics_learn_the_encoded_transitions(
    frames_buffer: ReplayBuffer, trained: tuple[FrameModel, dict]
) -> None:
    model, _ = trained
    from advex.models.latent_dynamics import encode_transitions

    frame, next_frame = frames_buffer.frames()
    z, a, z_next, z_prev = encode_transitions(model.vae, frame, frames_buffer.batch().act,
                                              next_frame, frames_buffer.episode_id)
    with torch.no_grad():
        fitted = (model.dynamics(z, a, z_prev) - z_next).square().mean()
    fresh = LatentDynamics(z.shape[1], a.shape[1], SMALL_DYNAMICS, seed=5)
    with torch.no_grad():
        untrained = (fresh(z, a, z_prev) - z_next).square().mean()
    assert fitted < 0.5 * untrained


def test_coverage_frames_replay_the_recorded_rollouts(trained: tuple[FrameModel, dict]) -> None:
    coverage = build_coverage_set("InvertedPendulum-v5", 0, TINY_COVERAGE, progress=False)
    starts = long_starts(coverage, 3, 6, seed=0)
    frames, actions = coverage_frames(coverage, FrameSpec(16), starts, 3)  # checks the obs
    assert frames.shape == (len(starts), 4, 16, 16, 1) and actions.shape == (len(starts), 3, 1)
    assert np.any(frames[:, 0] != frames[:, 3])
    rows = frame_model_errors(trained[0], coverage, starts=6, horizons=(1, 3))
    assert [r["horizon"] for r in rows] == [1, 3] and all(r["starts"] == len(starts) for r in rows)


def test_model_file_round_trip(trained: tuple[FrameModel, dict], tmp_path: Path) -> None:
    model, _ = trained
    model.save(tmp_path / "m.pt")
    back = FrameModel.load(tmp_path / "m.pt")
    assert back.task == "InvertedPendulum-v5"
    frames = np.zeros((2, 16, 16, 1), np.uint8)
    torch.testing.assert_close(back.vae.reconstruct(frames), model.vae.reconstruct(frames))


def test_bad_frames_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FrameError, match="do not fit"):
        FrameVAEConfig(frame_shape=(20, 20, 1), channels=(16, 16))
    vae = FrameVAE(SMALL_VAE)
    with pytest.raises(FrameError, match="expected frames N x 16 x 16 x 1"):
        vae.encode(np.zeros((2, 32, 32, 1), np.uint8))
    plain = collect("InvertedPendulum-v5", n_steps=20, seed=0, progress=False)
    plain.save(tmp_path / "plain.npz")
    out = tmp_path / "m.pt"
    assert main(["generative", "train", "--buffer", str(tmp_path / "plain.npz"), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no frames" in err and not out.exists()
    assert main(["generative", "train", "--kind", "draw", "--buffer",
                 str(tmp_path / "plain.npz"), "--out", str(out)]) == 2
    assert "holds no frames" in capsys.readouterr().err and not out.exists()


def test_cli_trains_scores_and_samples(
    frames_buffer: ReplayBuffer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames_buffer.save(tmp_path / "b.npz")
    out = tmp_path / "m.pt"
    assert main(["generative", "train", "--buffer", str(tmp_path / "b.npz"), "--out", str(out),
                 "--latent", "4", "--steps", "30", "--dynamics-steps", "30",
                 "--coverage-starts", "0", "--quiet"]) == 0
    assert "heldout_elbo" in capsys.readouterr().out
    assert main(["generative", "sample", "--model", str(out), "--out",
                 str(tmp_path / "g.png"), "--n", "4"]) == 0
    from matplotlib.image import imread

    assert imread(tmp_path / "g.png").shape[:2] == (36, 36)  # 2 x 2 frames of 16 + 2 border


def test_draw_on_frames_with_its_glimpses(
    frames_buffer: ReplayBuffer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from advex.envs.frames import grey_unit
    from advex.models.draw import DRAW, DRAWConfig

    images = grey_unit(frames_buffer.frames()[0][:8])
    model = DRAW(DRAWConfig(height=16, width=16, glimpses=3, read_n=3, write_n=3,
                            encoder_size=16, decoder_size=16, latent_dim=4))
    canvases, windows = model.paint(torch.as_tensor(images))
    assert canvases.shape == (3, 8, 16, 16) and len(windows) == 3
    assert all(w is not None and w.gx.shape == (8,) for w in windows)
    blind = DRAW(DRAWConfig(height=16, width=16, glimpses=3, attention=False,
                            encoder_size=16, decoder_size=16, latent_dim=4))
    assert blind.paint(torch.as_tensor(images))[1] == [None, None, None]
    with pytest.raises(FrameError, match="grey uint8 frames"):
        grey_unit(np.zeros((2, 16, 16, 3), np.uint8))
    frames_buffer.save(tmp_path / "b.npz")
    out = tmp_path / "draw.pt"
    assert main(["generative", "train", "--kind", "draw", "--buffer", str(tmp_path / "b.npz"),
                 "--out", str(out), "--steps", "3", "--glimpses", "3", "--read-n", "3",
                 "--write-n", "3", "--latent", "4", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "heldout_loss" in printed and (tmp_path / "draw.steps.png").is_file()
    assert bool(DRAW.load(out).canvas_start_set)  # started at the mean frame
    grey = tmp_path / "grey.pt"
    assert main(["generative", "train", "--kind", "draw", "--buffer", str(tmp_path / "b.npz"),
                 "--out", str(grey), "--steps", "1", "--glimpses", "2", "--latent", "2",
                 "--grey-canvas", "--quiet"]) == 0
    paper = DRAW.load(grey)
    assert not paper.config.canvas_from_mean and not bool(paper.canvas_start_set)
    assert main(["generative", "sample", "--model", str(out), "--out", str(tmp_path / "s.png"),
                 "--n", "4"]) == 0


def test_a_stray_background_pixel_costs_next_to_nothing(
    trained: tuple[FrameModel, dict], frames_buffer: ReplayBuffer
) -> None:
    """No per-pixel standardisation: the vector VAE's standardised constant pixels made one
    background pixel at +0.01 cost a frame 1.5e11 nats of ELBO; here it costs under one."""
    vae = trained[0].vae
    frame = frames_buffer.frames()[0][:1].copy()
    background = np.argwhere(frames_buffer.frames()[0].max(axis=0)[..., 0] == 0)
    assert len(background), "the frames have no constant background pixel"
    stray = frame.copy()
    stray[0, background[0][0], background[0][1], 0] += 3  # +0.012 in [0, 1]
    elbo = vae.elbo(frame, n_samples=20).item()
    assert abs(vae.elbo(stray, n_samples=20).item() - elbo) < 1.0
