"""Contact labels (advex.envs.contacts): rail hits and ground contacts are contact, free
flight is not, labelling never changes the simulation, and a collected buffer's labels agree
with a count made by hand from the simulator's own joint ranges."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from advex.envs import get_state, make_env, set_state
from advex.envs.contacts import ContactMonitor
from advex.exploration.buffer import CONTACT_COLUMN, ReplayBuffer
from advex.exploration.collect import Collector


def _labelled_step(env, monitor: ContactMonitor, action) -> bool:
    monitor.begin()
    env.unwrapped.step(np.asarray(action, dtype=np.float32))
    return monitor.end()


def _set(env, qpos, qvel) -> None:
    inner = env.unwrapped
    inner.set_state(np.asarray(qpos, dtype=np.float64), np.asarray(qvel, dtype=np.float64))


def test_pendulum_rail_hit_is_contact_and_mid_rail_is_free() -> None:
    env = make_env("InvertedPendulum-v5", episodes="free")
    env.reset(seed=0)
    monitor = ContactMonitor.of(env)
    _set(env, [0.0, 0.0], [0.0, 0.0])
    assert not _labelled_step(env, monitor, [0.5])
    _set(env, [0.98, 0.0], [2.0, 0.0])  # driving into the rail end at x = 1
    assert _labelled_step(env, monitor, [3.0])
    env.close()


def test_hopper_ground_contact_is_contact_and_free_flight_is_not() -> None:
    env = make_env("Hopper-v5", episodes="free")
    env.reset(seed=0)
    monitor = ContactMonitor.of(env)
    inner = env.unwrapped
    standing = inner.init_qpos.copy()
    _set(env, standing, np.zeros(inner.model.nv))
    assert _labelled_step(env, monitor, np.zeros(3))  # the foot rests on the floor
    flying = standing.copy()
    flying[1] = 3.0  # root height: two metres above the ground
    flying[3:6] = [-0.5, -0.5, 0.0]  # thigh and leg mid-range (their stops are at 0)
    _set(env, flying, np.zeros(inner.model.nv))
    assert not _labelled_step(env, monitor, np.zeros(3))
    env.close()


def test_monitor_is_installed_once_per_simulator() -> None:
    env = make_env("InvertedPendulum-v5")
    assert ContactMonitor.of(env) is ContactMonitor.of(env)
    with pytest.raises(ValueError, match="already has a ContactMonitor"):
        ContactMonitor(env)
    env.close()


@pytest.mark.parametrize("task", ["HalfCheetah-v5", "advex/ArenaRobot-v0"])
def test_labelling_does_not_change_the_simulation(task: str) -> None:
    trajectories = []
    for monitored in (False, True):
        env = make_env(task, episodes="free")
        env.reset(seed=3)
        monitor = ContactMonitor.of(env) if monitored else None
        rng = np.random.default_rng(0)
        rows = []
        for _ in range(60):
            if monitor:
                monitor.begin()
            action = rng.uniform(env.action_space.low, env.action_space.high)
            obs, reward, *_ = env.unwrapped.step(action.astype(np.float32))
            if monitor:
                monitor.end()
            rows.append(np.append(obs, reward))
        trajectories.append(np.array(rows))
        env.close()
    assert np.array_equal(trajectories[0], trajectories[1])


def _hand_label(env, state: np.ndarray, action: np.ndarray) -> bool:
    """A limit hit at the start state or any sub-step, from the joint ranges alone (the
    pendulum has no collisions): an independent count of what the monitor labels."""
    inner = env.unwrapped
    model, data = inner.model, inner.data
    set_state(env, state)
    low, high = model.jnt_range[:, 0], model.jnt_range[:, 1]
    limited = model.jnt_limited.astype(bool)

    def outside() -> bool:
        q = data.qpos[model.jnt_qposadr]
        return bool(np.any(limited & ((q < low) | (q > high))))

    hit = outside()
    data.ctrl[:] = action
    for _ in range(inner.frame_skip):
        mujoco.mj_step(model, data)
        hit = hit or outside()
    return hit


def test_collected_contact_frac_equals_a_hand_count() -> None:
    collector = Collector("InvertedPendulum-v5", episodes="free")
    buffer = ReplayBuffer(4, 1, extra_columns=(CONTACT_COLUMN,))
    states = collector.run(buffer, 600, seed=1, progress=False, record_states=True).states
    assert states is not None
    collector.close()
    labels = buffer.column(CONTACT_COLUMN).astype(bool)
    env = make_env("InvertedPendulum-v5", episodes="free")
    env.reset(seed=0)
    hand = np.array([_hand_label(env, states[i], buffer.batch(np.array([i])).act[0])
                     for i in range(len(buffer))])
    env.close()
    assert hand.any() and not hand.all()  # random actions reach the rail ends, not always
    assert np.array_equal(labels, hand)
    assert buffer.contact_frac() == pytest.approx(hand.mean(), abs=0)


def test_unlabelled_buffer_has_no_contact_frac() -> None:
    buffer = ReplayBuffer(4, 1)
    assert buffer.contact_frac() is None
    assert ReplayBuffer(4, 1, extra_columns=(CONTACT_COLUMN,)).contact_frac() is None


def test_state_round_trip_keeps_labels() -> None:
    env = make_env("InvertedPendulum-v5", episodes="free")
    env.reset(seed=0)
    monitor = ContactMonitor.of(env)
    _set(env, [0.99, 0.0], [1.0, 0.0])
    state = get_state(env)
    first = _labelled_step(env, monitor, [1.0])
    set_state(env, state)
    assert _labelled_step(env, monitor, [1.0]) == first
    env.close()
