"""Behaviours of model fitting that no other test pinned down (each was a surviving mutant):
bootstrap resampling, validation rows kept out of training, the best weights restored, and
elites chosen as the best members."""

from __future__ import annotations

import numpy as np
import torch

from advex.exploration.buffer import ReplayBuffer
from advex.models import TrainConfig, make_model


def _buffer(n: int = 400, seed: int = 0, noise: float = 0.0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((n, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    next_obs = (0.9 * obs + 0.3 * np.tanh(act).sum(1, keepdims=True)
                + noise * rng.standard_normal((n, 3))).astype(np.float32)
    buf = ReplayBuffer(3, 2)
    buf.add(obs=obs, act=act, next_obs=next_obs, reward=np.zeros(n, np.float32),
            terminated=np.zeros(n, bool), truncated=np.zeros(n, bool),
            episode_id=np.arange(n, dtype=np.int64))
    return buf


def _ensemble(members: int = 4, elites: int = 2, hidden: int = 16, seed: int = 0):  # type: ignore[no-untyped-def]
    return make_model("ensemble", 3, 2, {"hidden_sizes": (hidden, hidden), "seed": seed,
                                         "num_members": members, "num_elites": elites})


def _record_training_rows(model) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    """Wrap ``train_loss`` to keep the ``M x b x O`` normalised obs of every training batch."""
    seen: list[torch.Tensor] = []
    original = model.train_loss

    def recording(inputs, targets):  # type: ignore[no-untyped-def]
        seen.append(inputs[..., : model.obs_dim].detach().clone())
        return original(inputs, targets)

    model.train_loss = recording
    return seen


def test_each_member_trains_on_its_own_bootstrap_resample() -> None:
    buf = _buffer()
    model = _ensemble()
    seen = _record_training_rows(model)
    model.fit(buf, TrainConfig(max_epochs=1, batch_size=64), seed=0, progress=False)
    epoch = torch.cat(seen, dim=1)  # M x N_train x O: one epoch
    n_train = epoch.shape[1]
    unique_shares = []
    for member in epoch:
        unique = torch.unique(member, dim=0).shape[0]
        unique_shares.append(unique / n_train)
    # with replacement, about 1 - 1/e = 63 % of the rows are distinct; without, all of them
    assert all(0.55 < s < 0.72 for s in unique_shares), unique_shares
    assert not torch.equal(torch.unique(epoch[0], dim=0), torch.unique(epoch[1], dim=0))


def test_validation_rows_never_reach_a_training_batch() -> None:
    buf = _buffer()
    cfg = TrainConfig(max_epochs=3, batch_size=64, val_fraction=0.2)
    _, val_idx = buf.split(cfg.val_fraction, seed=cfg.split_seed)
    val = buf.batch(val_idx)
    for model in (_ensemble(), make_model("mlp", 3, 2, {"hidden_sizes": (16,)})):
        seen = _record_training_rows(model)
        model.fit(buf, cfg, seed=0, progress=False)
        # the training batches hold normalised rows: normalise the validation rows the same way
        val_inputs = model.normalized_inputs(torch.as_tensor(val.obs), torch.as_tensor(val.act))
        val_rows = {tuple(r) for r in val_inputs[:, :3].tolist()}
        trained = {tuple(r) for batch in seen for r in batch.reshape(-1, 3).tolist()}
        assert len(val_rows) > 50 and not (trained & val_rows)


def test_early_stopping_restores_the_best_weights() -> None:
    """A big net on few noisy rows overfits: validation error rises after its best epoch, and
    the fitted model is the one from that epoch, not the last."""
    buf = _buffer(n=120, noise=0.5)
    model = make_model("mlp", 3, 2, {"hidden_sizes": (256, 256)})
    cfg = TrainConfig(max_epochs=200, patience=15, batch_size=16, lr=3e-3, val_fraction=0.3)
    history = model.fit(buf, cfg, seed=0, progress=False)
    assert history.best_epoch < history.epochs - 1
    assert min(history.val_loss) < history.val_loss[-1]  # the last epoch was worse
    _, val_idx = buf.split(cfg.val_fraction, seed=cfg.split_seed)
    val = buf.batch(val_idx)
    score = float(model.member_dim_mse(*val.tensors()).mean())
    assert abs(score - min(history.val_loss)) < 1e-6 * max(1.0, score)


def test_elites_are_the_members_with_the_lowest_validation_error() -> None:
    buf = _buffer(noise=0.1)
    model = _ensemble(members=5, elites=2)
    cfg = TrainConfig(max_epochs=4, batch_size=64)
    model.fit(buf, cfg, seed=0, progress=False)
    _, val_idx = buf.split(cfg.val_fraction, seed=cfg.split_seed)
    per_member = model.member_dim_mse(*buf.batch(val_idx).tensors()).mean(dim=-1)
    best = sorted(torch.argsort(per_member)[:2].tolist())
    assert model.elite_idx.tolist() == best
    assert per_member[best].max() < per_member[[i for i in range(5) if i not in best]].min()


def test_data_of_meaningless_scale_is_refused_before_training() -> None:
    buf = _buffer(n=100)
    bad = ReplayBuffer(3, 2)
    batch = buf.batch()
    obs = batch.obs.copy()
    obs[7, 1] = 3e30
    bad.add(obs=obs, act=batch.act, next_obs=batch.next_obs, reward=batch.reward,
            terminated=batch.terminated, truncated=batch.truncated,
            episode_id=buf.episode_id.copy())
    model = make_model("mlp", 3, 2, {"hidden_sizes": (8,)})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        model.fit(bad, TrainConfig(max_epochs=2), progress=False)
    except ValueError as e:
        assert "up to 3e+30 (column 1)" in str(e) and "rescale" in str(e)
    else:
        raise AssertionError("fit accepted values of 3e30")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fused_adam_takes_a_parameter_generator_and_fuses_on_the_cpu() -> None:
    from advex.models.training import fused_adam

    layer = torch.nn.Linear(3, 2)
    optimizer = fused_adam(layer.parameters(), lr=0.1)  # a generator, as users pass it
    assert optimizer.defaults["fused"] is True
    before = layer.weight.detach().clone()
    layer(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, layer.weight)
