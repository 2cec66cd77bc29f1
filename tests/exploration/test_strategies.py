"""The strategy interface: registry, configs, acting, log-probs, returns, checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from toy_problem import TOY_SPEC, RegionDisagreementModel, RegionLossModel

from advex.envs import get_task
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.gaussian_policy import GaussianPolicy, GaussianPolicyConfig
from advex.exploration.policy_gradient import discounted_returns
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import (
    STRATEGIES,
    StrategyModelError,
    StrategyStateError,
    UnknownStrategyError,
    config_from_dict,
    make_strategy,
    strategy_class,
)

TASK = "InvertedPendulum-v5"  # action box [-3, 3]: catches strategies that assume [-1, 1]
#: The built-ins every release has (the registry may hold more).
ALL = ["random", "adversarial-sf", "adversarial-pw", "disagreement", "disagreement-pw",
       "adversarial-frames", "adversarial-mpc", "sb3-ppo", "sb3-sac"]
LEARNED = ["adversarial-sf", "disagreement-pw", "disagreement"]  # adversarial-pw: own file


def _obs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.5, (n, 4)).astype(np.float32)


# ---------------------------------------------------------------------- registry and configs
def test_registry_has_the_built_in_names() -> None:
    assert set(ALL) <= set(STRATEGIES)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownStrategyError) as err:
        make_strategy("curiosity", TASK)
    assert isinstance(err.value, ValueError)
    for name in ALL:
        assert name in str(err.value)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown adversarial-sf config field.*valid: .*gamma"):
        config_from_dict("adversarial-sf", {"gama": 0.5})
    with pytest.raises(ValueError, match="takes a DisagreementPathwiseConfig, got Adversar"):
        make_strategy("disagreement-pw", TASK, strategy_class("adversarial-sf").config_cls())
    with pytest.raises(ValueError, match="reward_timing"):
        make_strategy("adversarial-pw", TASK, {"reward_timing": "later"})
    with pytest.raises(ValueError, match="jacobian_source"):
        make_strategy("adversarial-pw", TASK, {"jacobian_source": "magic"})
    with pytest.raises(ValueError, match="reward_timing"):
        make_strategy("adversarial-sf", TASK, {"reward_timing": "later"})
    with pytest.raises(ValueError, match="surrogate"):
        make_strategy("disagreement-pw", TASK, {"surrogate": "magic"})
    with pytest.raises(ValueError, match="gamma"):
        make_strategy("adversarial-sf", TASK, {"gamma": 1.5})
    with pytest.raises(ValueError, match="unknown task"):
        make_strategy("random", "NoSuchTask-v0")
    s = make_strategy("adversarial-sf", TASK, {"gamma": 0.5, "hidden_sizes": [8]})
    assert s.config.gamma == 0.5 and s.config.hidden_sizes == (8,)


# ---------------------------------------------------------------------- acting
@pytest.mark.parametrize("name", ALL)
def test_act_shapes_bounds_and_seeded_determinism(name: str) -> None:
    spec = get_task(TASK)
    a = make_strategy(name, TASK, None, seed=3)
    b = make_strategy(name, TASK, None, seed=3)
    c = make_strategy(name, TASK, None, seed=4)
    obs = _obs(256)
    act_a, act_b, act_c = a.act(obs), b.act(obs), c.act(obs)
    assert act_a.shape == (256, spec.act_dim) and act_a.dtype == np.float32
    assert np.all(act_a >= -3.0) and np.all(act_a <= 3.0)
    np.testing.assert_array_equal(act_a, act_b)
    assert not np.array_equal(act_a, act_c)
    # a stochastic policy: the next call differs, and actions are spread out
    assert not np.array_equal(a.act(obs), act_a)
    assert act_a.std() > 0.1
    with pytest.raises(ValueError, match="N x 4"):
        a.act(np.zeros((3, 5), np.float32))


def test_random_strategy_is_uniform_over_the_box() -> None:
    act = make_strategy("random", TASK, None, seed=0).act(_obs(20_000))
    assert abs(act.mean()) < 0.05 and abs(act.std() - 6 / np.sqrt(12)) < 0.03


# ---------------------------------------------------------------------- log-probabilities
def test_squashed_log_prob_matches_torch_distributions() -> None:
    low, high = np.array([-3.0, 0.0], np.float32), np.array([3.0, 2.0], np.float32)
    gen = torch.Generator().manual_seed(0)
    policy = GaussianPolicy(3, 2, low, high, GaussianPolicyConfig(init_log_std=0.3), gen)
    with torch.no_grad():  # non-trivial mean and normaliser
        policy.mean_net[-1].weight.normal_(0, 1.0, generator=gen)
    policy.obs_normalizer.update(np.random.default_rng(0).normal(2, 3, (100, 3)))
    obs = torch.randn(500, 3, generator=gen) * 3
    act, u = policy.sample(obs.numpy(), np.random.default_rng(1))
    act_t, u_t = torch.as_tensor(act), torch.as_tensor(u)
    mu, log_std = policy(obs)
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Independent(torch.distributions.Normal(mu, log_std.exp()), 1),
        [torch.distributions.TanhTransform(),
         torch.distributions.AffineTransform(policy.act_center, policy.act_half)],
    )
    ref = reference.log_prob(act_t)
    mine_u = policy.log_prob_u(obs, u_t)
    keep = u_t.abs().max(-1).values < 4  # where float32 atanh(a) still recovers u closely
    torch.testing.assert_close(mine_u[keep], ref[keep], atol=2e-3, rtol=1e-4)
    torch.testing.assert_close(policy.log_prob(obs, act_t)[keep], ref[keep],
                               atol=2e-3, rtol=1e-4)
    # the score function uses the Gaussian part: exactly Normal(mu, sigma).log_prob(u)
    gauss = torch.distributions.Normal(mu, log_std.exp()).log_prob(u_t).sum(-1)
    torch.testing.assert_close(policy.gaussian_log_prob(obs, u_t), gauss)
    # actions are the squashed draws and lie inside the box
    torch.testing.assert_close(policy.squash(u_t), act_t)
    assert np.all(act >= low) and np.all(act <= high)


def test_log_std_floor_holds() -> None:
    cfg = GaussianPolicyConfig(log_std_min=-1.0)
    policy = GaussianPolicy(1, 1, np.array([-1.0]), np.array([1.0]), cfg,
                            torch.Generator().manual_seed(0))
    with torch.no_grad():
        policy.log_std_param.fill_(-50.0)
    assert float(policy.log_std().detach()) == -1.0


# ---------------------------------------------------------------------- returns
def test_discounted_returns_per_interleaved_episode() -> None:
    rewards = np.array([1.0, 10.0, 2.0, 20.0, 3.0, 5.0])
    episodes = np.array([0, 1, 0, 1, 0, 2])  # two envs interleaved, then a new episode
    out = discounted_returns(rewards, episodes, gamma=0.5)
    np.testing.assert_allclose(out, [1 + 0.5 * 2 + 0.25 * 3, 10 + 0.5 * 20, 2 + 0.5 * 3,
                                     20, 3, 5])
    np.testing.assert_allclose(discounted_returns(rewards, episodes, 0.0), rewards)


# ---------------------------------------------------------------------- checkpoints
def _round(strategy, collector, buffer, seed, model):  # type: ignore[no-untyped-def]
    data = strategy.collect(collector, buffer, 120, seed=seed, progress=False)
    return strategy.update(buffer, model, data)


def _copy(buffer: ReplayBuffer) -> ReplayBuffer:
    out = ReplayBuffer(buffer.obs_dim, buffer.act_dim)
    out.add_batch(buffer.batch(), buffer.episode_id.copy())
    return out


@pytest.mark.parametrize("name", ["random", *LEARNED])
@pytest.mark.parametrize("mid_round", [False, True])
def test_state_dict_round_trip_resumes_bit_identically(name: str, mid_round: bool) -> None:
    """Checkpoint (through torch.save / weights_only load), restore into a fresh strategy:
    both continue with identical actions, updates and weights. Mid-round, the round itself is
    the loop's (RoundData): both learn the same one."""
    model = RegionDisagreementModel()
    cfg = {"policy_steps": 4, "predictor_steps": 10} if name == "disagreement-pw" else None
    collector = Collector(TOY_SPEC)
    buf = ReplayBuffer(1, 1)
    collector.run(buf, 60, seed=99, progress=False)
    first = make_strategy(name, TOY_SPEC, cfg, seed=7)
    _round(first, collector, buf, 0, model)
    if mid_round:  # checkpoint between collect and update
        data = first.collect(collector, buf, 120, seed=1, progress=False)
    blob = io.BytesIO()
    torch.save(first.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    second = make_strategy(name, TOY_SPEC, cfg, seed=123)  # seed comes from the state
    second.load_state_dict(state)
    buf2 = _copy(buf)
    for strategy, buffer in ((first, buf), (second, buf2)):
        if mid_round:
            strategy.diag = strategy.update(buffer, model, data)  # type: ignore[attr-defined]
        strategy.diag2 = _round(strategy, collector, buffer, 2, model)  # type: ignore[attr-defined]
    assert first.diag2 == second.diag2  # type: ignore[attr-defined]
    if mid_round:
        assert first.diag == second.diag  # type: ignore[attr-defined]
    np.testing.assert_array_equal(buf.batch().act, buf2.batch().act)
    obs = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(first.act(obs), second.act(obs))
    if hasattr(first, "policy"):
        for (k, v), v2 in zip(first.policy.state_dict().items(),
                              second.policy.state_dict().values(), strict=True):
            assert torch.equal(v, v2), k


def test_load_state_dict_rejects_another_strategy() -> None:
    state = make_strategy("adversarial-sf", TASK).state_dict()
    with pytest.raises(StrategyStateError, match="adversarial-sf"):
        make_strategy("disagreement", TASK).load_state_dict(state)
    with pytest.raises(StrategyStateError, match="task"):
        make_strategy("adversarial-sf", "Reacher-v5").load_state_dict(state)


# ---------------------------------------------------------------------- model requirements
def test_disagreement_without_ensemble_is_a_clear_error() -> None:
    collector = Collector(TOY_SPEC)
    buf = ReplayBuffer(1, 1)
    strategy = make_strategy("disagreement", TOY_SPEC)
    data = strategy.collect(collector, buf, 40, seed=0, progress=False)
    with pytest.raises(StrategyModelError, match="needs an ensemble.*RegionLossModel"):
        strategy.update(buf, RegionLossModel(), data)
    pw = make_strategy("disagreement-pw", TOY_SPEC, {"surrogate": "disagreement"})
    with pytest.raises(StrategyModelError, match="disagreement"):
        pw.update(buf, RegionLossModel(), data)


def test_update_of_an_empty_round_only_learns_normaliser() -> None:
    """Rows the strategy did not collect (someone else's data) are no round of its own: the
    on-policy learner skips them."""
    collector = Collector(TOY_SPEC)
    buf = ReplayBuffer(1, 1)
    collector.run(buf, 50, seed=0, progress=False)
    strategy = make_strategy("adversarial-sf", TOY_SPEC)
    before = {k: v.clone() for k, v in strategy.policy.mean_net.state_dict().items()}
    diag = strategy.update(buf, RegionLossModel(), RoundData(np.zeros(0, np.int64)))
    assert diag == {"n_transitions": 0.0}
    for k, v in strategy.policy.mean_net.state_dict().items():
        assert torch.equal(v, before[k])
    assert float(strategy.policy.obs_normalizer.count) == 50


def test_ppo_clip_keeps_each_update_near_the_collecting_policy() -> None:
    """Many epochs on one batch: the clipped surrogate (a minimum) makes actions with positive
    advantage more likely while the others' probability does not collapse; an unclipped or
    wrongly clipped objective runs away (a maximum: every ratio falls towards 0)."""
    from advex.exploration.gaussian_policy import GaussianPolicy
    from advex.exploration.policy_gradient import ScoreFunctionConfig, ScoreFunctionLearner

    cfg = ScoreFunctionConfig(epochs=40, target_kl=None, lr=1e-2, minibatch_size=64,
                              ent_coef=0.0, max_grad_norm=10.0)
    gen = torch.Generator().manual_seed(0)
    policy = GaussianPolicy(2, 1, np.array([-1.0], np.float32), np.array([1.0], np.float32),
                            cfg, gen)
    learner = ScoreFunctionLearner(policy, cfg, gen)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((256, 2)).astype(np.float32)
    u = (0.5 * rng.standard_normal((256, 1))).astype(np.float32)
    rewards = (u[:, 0] > 0).astype(np.float64)
    with torch.no_grad():
        old = policy.gaussian_log_prob(torch.as_tensor(obs), torch.as_tensor(u))
    learner.update(obs, u, rewards, np.arange(256))
    with torch.no_grad():
        new = policy.gaussian_log_prob(torch.as_tensor(obs), torch.as_tensor(u))
    ratio = (new - old).exp().numpy()
    assert 1.0 < ratio[rewards > 0].mean() < 1 + 4 * cfg.clip_range
    assert ratio[rewards == 0].mean() > 0.1
