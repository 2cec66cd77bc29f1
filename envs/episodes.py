"""Episode rules: one choice per run, shared by every strategy's collection and the coverage set.

Why: a yardstick must only score what exploration can reach under the same rules. With the
env's own rules (``"env"``) an InvertedPendulum episode ends as soon as ``|pole angle| > 0.2``,
so no strategy ever sees a fallen pole; a coverage set full of fallen poles would then score
states nobody could visit. Two modes:

* ``"env"`` (default): the task's own termination ends episodes, for collection and for the
  coverage set alike (coverage rollouts stop at the terminating transition, starts are never
  terminated states).
* ``"free"``: termination is ignored everywhere; episodes end only at the time limit, so
  strategies may explore falls and collisions, and the coverage set contains them too.

:class:`IgnoreTermination` is how ``"free"`` reaches code that steps a wrapped Gymnasium env
(SB3 agents, the async vector env); the lean vector env applies the rule itself.
"""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium

EpisodeMode = Literal["env", "free"]
#: Valid episode modes, default first.
EPISODE_MODES: tuple[str, ...] = ("env", "free")


class EpisodeModeError(ValueError):
    """An episode mode that is not one of :data:`EPISODE_MODES`."""


def check_episode_mode(mode: object) -> EpisodeMode:
    """``mode`` itself if valid, else :class:`EpisodeModeError` naming the valid modes."""
    if mode not in EPISODE_MODES:
        raise EpisodeModeError(
            f"unknown episodes mode {mode!r}; valid: {', '.join(EPISODE_MODES)}"
        )
    return mode  # type: ignore[return-value]


class IgnoreTermination(gymnasium.Wrapper):
    """Reports ``terminated=False`` on every step (``"free"`` episodes).

    The env's own verdict stays visible as ``info["env_terminated"]``. Put it outside
    ``TimeLimit`` (as :func:`advex.envs.make_env` does) so the time limit still truncates.
    """

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "env_terminated": bool(terminated)}
        return obs, reward, False, truncated, info
