"""StackedEnsemble: G fits in one kernel train exactly as G separate ensembles would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advex.exploration.collect import collect
from advex.models import EnsembleConfig, TrainConfig, make_model
from advex.models.stacked import StackedEnsemble

CONFIGS = [
    EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(32, 32), seed=s) for s in (5, 6, 7)
]
TRAIN_SEEDS = [10, 11, 12]
# A coarse improvement threshold makes the groups stop at different epochs.
TRAIN = TrainConfig(max_epochs=60, patience=3, min_rel_improvement=0.05)


@pytest.fixture(scope="module")
def buffer():  # type: ignore[no-untyped-def]
    return collect("InvertedPendulum-v5", n_steps=600, seed=0, progress=False)


def test_stacked_fit_equals_separate_fits(buffer) -> None:  # type: ignore[no-untyped-def]
    stack = StackedEnsemble(4, 1, CONFIGS)
    history = stack.fit(buffer, TRAIN, seed=TRAIN_SEEDS, progress=False)
    assert len(set(history.group_epochs)) > 1  # the groups did stop at different epochs
    batch = buffer.batch(np.arange(100))
    for g, (config, seed, single) in enumerate(
        zip(CONFIGS, TRAIN_SEEDS, stack.unstack(), strict=True)
    ):
        alone = make_model("ensemble", 4, 1, config)
        alone_history = alone.fit(buffer, TRAIN, seed=seed, progress=False)
        assert alone_history.best_epoch == history.group_best_epoch[g]
        assert alone_history.epochs == history.group_epochs[g]
        assert alone_history.stopped_early == history.group_stopped_early[g]
        torch.testing.assert_close(single.elite_idx, alone.elite_idx)
        for mine, theirs in zip(single.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            single.predict(batch.obs, batch.act)[0], alone.predict(batch.obs, batch.act)[0],
            rtol=1e-5, atol=1e-5,
        )


def test_groups_start_from_their_own_seeded_init() -> None:
    stack = StackedEnsemble(4, 1, CONFIGS)
    for single, config in zip(stack.unstack(), CONFIGS, strict=True):
        fresh = make_model("ensemble", 4, 1, config)
        for mine, theirs in zip(single._layers(), fresh._layers(), strict=True):
            torch.testing.assert_close(mine.weight, theirs.weight, rtol=0, atol=0)


def test_same_seeds_same_fits_and_seed_count_checked(buffer) -> None:  # type: ignore[no-untyped-def]
    a, b = StackedEnsemble(4, 1, CONFIGS), StackedEnsemble(4, 1, CONFIGS)
    short = TrainConfig(max_epochs=3)
    a.fit(buffer, short, seed=TRAIN_SEEDS, progress=False)
    b.fit(buffer, short, seed=TRAIN_SEEDS, progress=False)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="2 training seed"):
        StackedEnsemble(4, 1, CONFIGS).fit(buffer, short, seed=[1, 2], progress=False)


def test_configs_may_differ_only_in_seed_and_stack_is_not_saved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="only in seed"):
        StackedEnsemble(4, 1, [CONFIGS[0], EnsembleConfig(num_members=4, num_elites=2, seed=1)])
    with pytest.raises(NotImplementedError, match="unstack"):
        StackedEnsemble(4, 1, CONFIGS).save(tmp_path / "x.pt")


def test_groups_need_validation_rows(buffer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="needs validation rows"):
        StackedEnsemble(4, 1, CONFIGS).fit(
            buffer, TrainConfig(max_epochs=2, val_fraction=0.0), seed=TRAIN_SEEDS, progress=False
        )
