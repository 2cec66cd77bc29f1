"""``adversarial-frames``: the score-function adversary in the partially observed setting,
playing against a model of what the robot's camera sees.

The background texts frame the robot as partially observed. This strategy renders each step
(:mod:`advex.envs.frames`) and keeps its own frame model: a :class:`FrameVAE` (frame ->
latent state) and :class:`LatentDynamics` (``z' = z + g(z, z - z_prev, a)``). After every
round that model trains further on all frames collected so far. Each transition of the round
is then rewarded with the model's one-step frame-prediction error (decoded prediction
against the true next frame, :func:`transition_frame_errors`), and the Gaussian policy
learns from those rewards with the same score-function learner as ``adversarial-sf``. The
only change is the reward: the camera model's surprise instead of the state model's.

The policy acts on the state vector, like every other strategy: the question asked is what
data a camera-model adversary collects, and that data (state vectors) goes into the run's
buffer and is scored by the same yardstick. The experiment's own state model is not used, so
it is not refitted online for this strategy (``uses_model = False``). The frames and the
frame model are this strategy's own: they are saved in its checkpoint, so a resumed run
continues exactly.

Cost: rendering (about 370 frames per second at 32 x 32 on one CPU core for
InvertedPendulum-v5) plus ``vae_steps`` and ``dynamics_steps`` of training per round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.envs.frames import FrameSpec, check_rendering
from advex.exploration.buffer import CONTACT_COLUMN, ReplayBuffer
from advex.exploration.policy_gradient import ScoreFunctionConfig, ScoreFunctionStrategy
from advex.exploration.policy_strategy import clone_tensors
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import StrategyStateError
from advex.models.frame_vae import FrameVAE, FrameVAEConfig
from advex.models.latent_dynamics import (
    LatentDynamics,
    LatentDynamicsConfig,
    encode_transitions,
    previous_rows,
    transition_frame_errors,
)
from advex.types import TransitionBatch


@dataclass
class AdversarialFramesConfig(ScoreFunctionConfig):
    """The score-function learner plus the frame model: frame side, latent size, and the
    training steps the VAE and the latent dynamics take after every round."""

    frame_size: int = 32
    latent_dim: int = 16
    vae_steps: int = 300
    dynamics_steps: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        FrameVAEConfig.for_frames((self.frame_size, self.frame_size, 1))  # a side it can take
        require(type(self).__name__, {
            "latent_dim >= 1": self.latent_dim >= 1,
            "vae_steps >= 1": self.vae_steps >= 1,
            "dynamics_steps >= 1": self.dynamics_steps >= 1,
        })


class AdversarialFrames(ScoreFunctionStrategy):
    """Score-function adversary rewarded by a frame model's prediction error (module doc)."""

    name = "adversarial-frames"
    config_cls = AdversarialFramesConfig
    config: AdversarialFramesConfig
    uses_model = False

    @classmethod
    def check_task(cls, spec: TaskSpec) -> None:
        """The task must render offscreen here (one line naming MUJOCO_GL otherwise)."""
        check_rendering(spec.name)

    def __init__(self, spec: TaskSpec, config: AdversarialFramesConfig, seed: int, *,
                 episodes: EpisodeMode = "env") -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        self.frame_spec = FrameSpec(config.frame_size, "grey")
        shape = self.frame_spec.shape
        #: ``N x H x W x 1`` uint8 frames of every row this strategy added to the run's buffer
        self.frames = np.zeros((0, *shape), dtype=np.uint8)
        self.next_frames = np.zeros((0, *shape), dtype=np.uint8)
        self.vae = FrameVAE(FrameVAEConfig.for_frames(
            shape, latent_dim=config.latent_dim, steps=config.vae_steps,
            kl_warmup_steps=config.vae_steps,  # the first round warms up; later ones continue
        ), seed=self.seed)
        self.dynamics = LatentDynamics(config.latent_dim, spec.act_dim, LatentDynamicsConfig(
            steps=config.dynamics_steps), seed=self.seed)
        self.frame_rounds = 0  # rounds the frame model has trained on
        self._collector: Any = None  # the rendering twin of the run's collector
        self._round_rewards: np.ndarray | None = None

    # ------------------------------------------------------------------ collecting
    def collect(self, collector: Any, buffer: ReplayBuffer, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        """Collect with the policy through a rendering copy of ``collector`` (same task,
        envs and episode rules), then append the rows to ``buffer`` exactly as the plain
        collector would have (episode ids continue from the buffer's) and keep the frames."""
        if len(buffer) != len(self.frames):
            raise StrategyStateError(
                f"{self.name}: the run's buffer has {len(buffer)} rows but this strategy holds "
                f"frames of {len(self.frames)}; it must collect every row of its buffer"
            )
        if self._collector is None:
            self._collector = dataclasses.replace(collector, frames=self.frame_spec)
        spec = self.spec
        labels = (CONTACT_COLUMN,) if buffer.labels_contacts else ()
        round_buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, frame_shape=self.frame_spec.shape,
                                    extra_columns=labels)
        rendered = super().collect(self._collector, round_buffer, n_steps, seed, progress)
        rows = round_buffer.batch()
        first_episode = int(buffer.episode_id.max()) + 1 if len(buffer) else 0
        start = len(buffer)
        buffer.add(rows.obs, rows.act, rows.next_obs, rows.reward, rows.terminated,
                   rows.truncated, round_buffer.episode_id + first_episode,
                   **{name: round_buffer.column(name) for name in round_buffer.extra_columns})
        frame, next_frame = round_buffer.frames()
        self.frames = np.concatenate([self.frames, frame])
        self.next_frames = np.concatenate([self.next_frames, next_frame])
        data = RoundData.appended(start, len(buffer), n_steps, self.name)
        assert rendered.policy_draws is not None  # GaussianPolicyStrategy.collect records them
        return data.with_draws(rendered.policy_draws)

    # ------------------------------------------------------------------ learning
    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Train the frame model further on every frame so far, reward the round's
        transitions with its one-step frame error, and learn the policy from them."""
        idx = data.rows
        diagnostics: dict[str, float] = {}
        if len(idx):
            diagnostics = self._train_frame_model(buffer)
            previous = previous_rows(buffer.episode_id)[idx]
            self._round_rewards = transition_frame_errors(
                self.vae, self.dynamics, self.frames[idx], buffer.batch(idx).act,
                self.next_frames[idx], self.frames[previous])
        return {**super().update(buffer, model, data, observed), **diagnostics}

    def _train_frame_model(self, buffer: Any) -> dict[str, float]:
        seed = self.seed * 10_007 + self.frame_rounds  # a fresh minibatch stream per round
        self.vae.train()
        history = self.vae.fit(self.frames, seed=seed, progress=False)
        self.vae.eval()
        self.vae.config.kl_warmup_steps = 0
        batch = buffer.batch()
        z, a, z_next, z_prev = encode_transitions(
            self.vae, self.frames, batch.act, self.next_frames, buffer.episode_id)
        losses = self.dynamics.fit(z, a, z_next, z_prev, seed=seed, progress=False).loss
        self.dynamics.eval()
        self.frame_rounds += 1
        tail = max(1, len(losses) // 10)
        return {
            "frame_vae_loss": float(np.mean(history.loss[-tail:])),
            "frame_vae_kl": float(np.mean(history.kl[-tail:])),
            "latent_dynamics_loss": float(np.mean(losses[-tail:])),
        }

    def transition_rewards(self, batch: TransitionBatch, model: Any) -> np.ndarray:
        """The round's frame errors, computed by :meth:`update` (the batch carries no
        frames)."""
        rewards, self._round_rewards = self._round_rewards, None
        if rewards is None or len(rewards) != len(batch.obs):
            raise RuntimeError(f"{self.name}: rewards are computed in update(), for the round "
                               "it collected")
        return rewards

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            frames=torch.from_numpy(self.frames.copy()),
            next_frames=torch.from_numpy(self.next_frames.copy()),
            vae=clone_tensors(self.vae.state_dict()),
            vae_settings={"pixel_max": self.vae.config.pixel_max,
                          "kl_warmup_steps": self.vae.config.kl_warmup_steps},
            dynamics=clone_tensors(self.dynamics.state_dict()),
            frame_rounds=self.frame_rounds,
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.frames = state["frames"].numpy().copy()
        self.next_frames = state["next_frames"].numpy().copy()
        self.vae.load_state_dict(state["vae"])
        for key, value in state["vae_settings"].items():
            setattr(self.vae.config, key, value)
        self.dynamics.load_state_dict(state["dynamics"])
        self.frame_rounds = int(state["frame_rounds"])

    def close(self) -> None:
        if self._collector is not None:
            self._collector.close()
            self._collector = None
        super().close()


__all__ = ["AdversarialFrames", "AdversarialFramesConfig"]
