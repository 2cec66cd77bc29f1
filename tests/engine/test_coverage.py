"""Coverage set: reproducible from its seed, replayable, all sources present, broader than
random rollouts, safe on disk."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest
import torch

from advex.engine import coverage as cov
from advex.engine.coverage import (
    SOURCE_NAMES,
    CoverageConfig,
    CoverageConfigError,
    CoverageFileError,
    CoverageSet,
    build_coverage_set,
    load_or_build_coverage,
)
from advex.envs import get_state, make_env, set_state

TASK = "InvertedPendulum-v5"
SMALL = CoverageConfig(n_starts=60, horizon=20, n_random_rollout_steps=300,
                       n_bang_bang_steps=150, n_sb3_steps=0)
SMALL_FREE = dataclasses.replace(SMALL, episodes="free")


@pytest.fixture(scope="module")
def small_set() -> CoverageSet:
    return build_coverage_set(TASK, 0, SMALL, progress=False)


@pytest.fixture(scope="module")
def free_set() -> CoverageSet:
    return build_coverage_set(TASK, 0, SMALL_FREE, progress=False)


def assert_sets_identical(a: CoverageSet, b: CoverageSet) -> None:
    for name in ("start_states", "obs", "act", "sources", "lengths", "reward", "terminated"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert (a.task, a.seed, a.config) == (b.task, b.seed, b.config)


def test_shapes_dtypes_and_sources(small_set):
    env = make_env(TASK)
    s, k = SMALL.n_starts, SMALL.horizon
    assert small_set.start_states.shape == (s, len(get_state(env)))
    assert small_set.obs.shape == (s, k + 1, 4) and small_set.obs.dtype == np.float32
    assert small_set.act.shape == (s, k, 1) and small_set.act.dtype == np.float32
    assert small_set.start_states.dtype == np.float64 and small_set.sources.dtype == np.int8
    assert small_set.lengths.shape == (s,) and small_set.lengths.max() <= k
    assert len(small_set) == small_set.lengths.sum() == len(small_set.transitions()[0])
    counts = small_set.summary()["sources"]
    assert sum(counts.values()) == s
    assert counts["sb3"] == 0  # skipped with n_sb3_steps=0, share spread over the rest
    assert all(counts[name] > 0 for name in ("random", "bang_bang", "perturbed"))
    # actions uniform in the box, covering most of it
    _, act, _ = small_set.transitions()
    assert np.all(np.abs(act) <= 3.0) and np.ptp(act) > 5.0


def test_same_seed_is_bit_identical_other_seed_differs(small_set):
    assert_sets_identical(small_set, build_coverage_set(TASK, 0, SMALL, progress=False))
    other = build_coverage_set(TASK, 1, SMALL, progress=False)
    assert not np.array_equal(other.obs, small_set.obs)


@pytest.mark.parametrize("which", ["small_set", "free_set"])
def test_recorded_rollouts_replay_from_start_states(which, request):
    """The set is real simulator data: set_state + the recorded actions reproduce it, and a
    rollout ends exactly where the env's own step says it terminated ("env") or at K."""
    coverage = request.getfixturevalue(which)
    env = make_env(TASK)
    env.reset(seed=123)
    for i in (0, 25, 59):
        first = set_state(env, coverage.start_states[i])
        np.testing.assert_array_equal(first.astype(np.float32), coverage.obs[i, 0])
        for t in range(coverage.lengths[i]):
            next_obs, reward, terminated, _, _ = env.unwrapped.step(coverage.act[i, t])
            np.testing.assert_array_equal(next_obs.astype(np.float32), coverage.obs[i, t + 1])
            assert np.float32(reward) == coverage.reward[i, t]
            assert coverage.terminated[i, t] == (terminated and which == "small_set")
        if coverage.lengths[i] < SMALL.horizon:
            assert which == "small_set" and terminated


def test_env_episodes_score_only_reachable_transitions(small_set):
    """"env" episodes: no start is terminated, nothing follows a termination, so every
    transition starts inside InvertedPendulum's healthy range |pole angle| <= 0.2."""
    obs, _, next_obs = small_set.transitions()
    assert np.abs(small_set.obs[:, 0, 1]).max() <= 0.2  # starts
    assert np.abs(obs[:, 1]).max() <= 0.2  # every transition's state
    assert small_set.terminated.any()  # random actions do tip the pole within 20 steps
    ends = small_set.lengths - 1
    last_terminated = small_set.terminated[np.arange(small_set.n_starts), ends]
    np.testing.assert_array_equal(last_terminated, np.abs(next_obs[np.cumsum(small_set.lengths)
                                                                   - 1, 1]) > 0.2)
    assert small_set.terminated.sum() == last_terminated.sum()  # only at a rollout's end
    assert not small_set.valid[small_set.lengths < SMALL.horizon, -1].any()


def test_free_episodes_continue_past_termination(free_set):
    """"free" episodes: open loop, no reset, no termination; the pole falls past 0.2 rad."""
    assert np.all(free_set.lengths == SMALL.horizon) and not free_set.terminated.any()
    assert np.abs(free_set.obs[:, :, 1]).max() > 0.2
    # pool episodes ignore termination too: some starts are already past the healthy range
    assert np.abs(free_set.obs[:, 0, 1]).max() > 0.2


def test_to_buffer_holds_every_transition_with_pool_and_step(small_set, tmp_path):
    from advex.exploration.buffer import ReplayBuffer

    path = tmp_path / "coverage.npz"
    small_set.to_buffer().save(path)
    buffer = ReplayBuffer.load(path)
    batch = buffer.batch()
    obs, act, next_obs = small_set.transitions()
    np.testing.assert_array_equal(batch.obs, obs)
    np.testing.assert_array_equal(batch.act, act)
    np.testing.assert_array_equal(batch.next_obs, next_obs)
    np.testing.assert_array_equal(batch.terminated, small_set.terminated[small_set.valid])
    np.testing.assert_array_equal(buffer.column("start_pool"), small_set.row_sources())
    np.testing.assert_array_equal(buffer.column("rollout_step"), small_set.row_steps())
    # each rollout ends in exactly one terminated or truncated row
    ends = batch.terminated | batch.truncated
    assert ends.sum() == small_set.n_starts and not (batch.terminated & batch.truncated).any()
    assert buffer.meta["episodes"] == "env" and buffer.meta["task"] == TASK


def test_perturbed_starts_are_not_visited_states(small_set):
    perturbed = small_set.start_states[small_set.sources == SOURCE_NAMES.index("perturbed")]
    visited = small_set.start_states[small_set.sources != SOURCE_NAMES.index("perturbed")]
    assert not any((visited == p).all(axis=1).any() for p in perturbed)


def test_perturb_moves_only_qpos_qvel_scaled_by_pool_spread():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(400, 12)) * np.arange(1, 13)  # per-dim spreads 1..12
    nq, nv, start = 3, 2, 1
    out = cov._perturb(pool, 4000, nq, nv, start, 0.1, np.random.default_rng(1))
    sl = slice(start, start + nq + nv)
    # column 0 (time) is untouched and unique per pool row: it finds each row's origin
    rows = np.array([np.flatnonzero(pool[:, 0] == o[0])[0] for o in out])
    untouched = np.r_[0:start, start + nq + nv:12]
    np.testing.assert_array_equal(out[:, untouched], pool[rows][:, untouched])
    noise = out[:, sl] - pool[rows][:, sl]
    assert np.all(noise != 0)
    np.testing.assert_allclose(noise.std(axis=0) / pool[:, sl].std(axis=0), 0.1, rtol=0.1)


@pytest.mark.parametrize("which", ["small_set", "free_set"])
def test_set_is_broader_than_random_rollouts(which, request):
    """Per-dim obs std of the set beats that of random-action episodes of its size under the
    same episode rules."""
    small_set = request.getfixturevalue(which)
    env = make_env(TASK, episodes=small_set.config.episodes)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    seen = []
    while len(seen) < len(small_set):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-3, 3, size=1))
        seen.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
    random_std = np.std(seen, axis=0)
    set_std = small_set.transitions()[2].std(axis=0)
    assert np.all(set_std > random_std), (set_std, random_std)


def test_ppo_source_reproducible_and_global_rng_untouched():
    config = dataclasses.replace(SMALL, n_starts=20, n_sb3_steps=128, n_sb3_rollout_steps=100,
                                 sb3_algo="ppo")
    np_before = np.random.get_state()[1].copy()  # noqa: NPY002  (checking nobody moved it)
    first = build_coverage_set(TASK, 3, config, progress=False)
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert first.summary()["sources"]["sb3"] == 4
    assert_sets_identical(first, build_coverage_set(TASK, 3, config, progress=False))


def test_sac_source_reproducible():
    config = dataclasses.replace(SMALL, n_starts=20, n_sb3_steps=300, n_sb3_rollout_steps=100)
    first = build_coverage_set(TASK, 0, config, progress=False)
    assert first.summary()["sources"]["sb3"] == 4
    assert_sets_identical(first, build_coverage_set(TASK, 0, config, progress=False))


@pytest.mark.slow
@pytest.mark.parametrize("task", ["HalfCheetah-v5", "Hopper-v5", "advex/ArenaRobot-v0"])
def test_default_config_builds_finite_sets(task):
    coverage = build_coverage_set(task, 0, dataclasses.replace(CoverageConfig(), n_sb3_steps=0),
                                  progress=False)
    assert coverage.n_starts == 2000 and np.all(np.isfinite(coverage.obs))
    if task == "Hopper-v5":  # terminates when it falls: no start may be a fallen state
        from advex.envs import get_task

        starts = torch.as_tensor(coverage.obs[:, 0])
        assert not get_task(task).term_fn(torch.zeros(len(starts), 3), starts).any()
        assert coverage.terminated.any()


def test_save_load_round_trip(small_set, tmp_path):
    path = tmp_path / "sub" / "set.npz"
    small_set.save(path)
    assert_sets_identical(small_set, CoverageSet.load(path))
    assert [p.name for p in path.parent.iterdir()] == ["set.npz"]  # no temp file left
    with zipfile.ZipFile(path) as archive:  # plain arrays, nothing pickled
        assert all(name.endswith(".npy") for name in archive.namelist())


def _set_format_version_99(arrays: dict) -> None:
    header = json.loads(str(arrays["__header__"]))
    arrays["__header__"] = np.array(json.dumps({**header, "format_version": 99}))


def test_corrupt_or_inconsistent_files_raise_one_clear_error(small_set, tmp_path):
    missing = tmp_path / "absent.npz"
    with pytest.raises(CoverageFileError, match="absent.npz: no such coverage set"):
        CoverageSet.load(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(CoverageFileError, match="garbage.npz: not a readable coverage set"):
        CoverageSet.load(garbage)
    good = tmp_path / "good.npz"
    small_set.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(CoverageFileError, match="truncated.npz"):
        CoverageSet.load(truncated)
    arrays = dict(np.load(good))
    for name, change, message in [
        ("no_obs", lambda a: a.pop("obs"), "array .obs. is missing"),
        ("bad_dtype", lambda a: a.update(obs=a["obs"].astype(np.float64)), "dtype"),
        ("bad_steps", lambda a: a.update(obs=a["obs"][:, :-1]), "horizon"),
        ("nan", lambda a: a["obs"].__setitem__((0, 0, 0), np.nan), "NaN"),
        ("version", _set_format_version_99, "coverage set format version 99 is not supported"),
        ("foreign", lambda a: a.pop("__header__"), "not an advex coverage set"),
    ]:
        broken = {key: value.copy() for key, value in arrays.items()}
        change(broken)
        path = tmp_path / f"{name}.npz"
        np.savez(path, **broken)
        with pytest.raises(CoverageFileError, match=message) as info:
            CoverageSet.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_load_or_build_caches_by_task_seed_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_CACHE", str(tmp_path))
    config = dataclasses.replace(SMALL, n_starts=10, horizon=5)
    built = load_or_build_coverage("advex/ArenaRobot-v0", 2, config, progress=False)
    files = list((tmp_path / "coverage").iterdir())
    assert [f.name for f in files] == [
        f"advex_ArenaRobot-v0_seed2_{config.short_hash()}.npz"
    ]

    def no_build(*args, **kwargs):
        raise AssertionError("cache hit must not rebuild")

    monkeypatch.setattr(cov, "build_coverage_set", no_build)
    assert_sets_identical(built, load_or_build_coverage("advex/ArenaRobot-v0", 2, config))
    other_config = dataclasses.replace(config, n_starts=11)
    assert other_config.short_hash() != config.short_hash()
    # a file that holds other inputs under this name is refused, not silently used
    files[0].rename(tmp_path / "coverage" / files[0].name.replace("seed2", "seed5"))
    with pytest.raises(CoverageFileError, match="seed 2"):
        load_or_build_coverage("advex/ArenaRobot-v0", 5, config)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ADVEX_CACHE", raising=False)
    assert cov.default_cache_dir().parts[-3:] == (".cache", "advex", "coverage")
    monkeypatch.setenv("ADVEX_CACHE", str(tmp_path))
    assert cov.default_cache_dir() == tmp_path / "coverage"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_starts": 0}, "n_starts"),
        ({"noise_scale": -0.1}, "noise_scale"),
        ({"sb3_algo": "td3"}, "sb3_algo"),
        ({"episodes": "none"}, "unknown episodes mode 'none'; valid: env, free"),
        ({"frac_random": 0.5}, "sum to 1"),
        ({"n_random_rollout_steps": 0, "n_bang_bang_steps": 0, "n_sb3_steps": 0}, "empty"),
    ],
)
def test_config_validation(changes, message):
    with pytest.raises(CoverageConfigError, match=message):
        dataclasses.replace(CoverageConfig(), **changes)


def test_source_fractions_redistribute_skipped_sb3():
    fractions = CoverageConfig(n_sb3_steps=0).source_fractions()
    assert fractions["sb3"] == 0 and sum(fractions.values()) == pytest.approx(1)
    assert fractions["random"] == pytest.approx(0.3 / 0.8)
    assert cov._draw_counts(7, fractions) == {"random": 3, "sb3": 0, "bang_bang": 2,
                                             "perturbed": 2}


def test_env_is_closed_even_when_building_fails(monkeypatch):
    """A failure mid-build (here: the random pool) must not leak the simulator."""
    closed = []

    def tracked_env(spec, **kwargs):
        env = make_env(spec, **kwargs)
        original = env.close
        env.close = lambda: (closed.append(spec.name), original())  # type: ignore[method-assign]
        return env

    def broken_pool(*args, **kwargs):
        raise RuntimeError("pool failed")

    monkeypatch.setattr(cov, "make_env", tracked_env)
    monkeypatch.setattr(cov, "_collect_states", broken_pool)
    with pytest.raises(RuntimeError, match="pool failed"):
        build_coverage_set(TASK, 0, SMALL, progress=False)
    assert closed == [TASK]
