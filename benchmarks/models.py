"""Model training throughput and the held-out error curve that exploration must beat.

Part 1 — throughput (transitions/s of training, one epoch = every training row once per
member): advex's ``fit`` for the MLP and the PETS ensemble, against a reference measured in the
same run: a bare torch loop (same architecture, Adam, shuffled minibatches, no validation, no
normalisation, no NaN checks). The ratio advex/reference shows what advex's bookkeeping costs.

Part 2 — ``mse_1step`` on the HalfCheetah-v5 coverage set of an ensemble trained on 10k, 30k
and 100k random transitions: the curve the exploration strategies are judged against.

    python benchmarks/models.py [--sizes 10000,30000,100000] [--max-epochs 50] [--skip-curve]
        [--device cpu|cuda]

``--device cuda`` runs both sides of part 1 on the GPU (same shapes, timed after a CUDA
synchronise). ``--repeats N`` times each side N times, alternating advex and the bare loop,
and prints each pair's ratio and their median: the machine's speed drifts during a run, and
a pair measured back to back shares the drift.
"""

from __future__ import annotations

import argparse

import torch
from harness import Stopwatch, int_list, median_ratio, pin_threads
from torch import nn

from advex.device import resolve_device
from advex.engine.coverage import CoverageConfig, load_or_build_coverage
from advex.engine.metrics import evaluate_model
from advex.exploration.collect import collect
from advex.models import EnsembleConfig, MLPConfig, TrainConfig, make_model


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reference_throughput(
    kind: str, obs_dim: int, act_dim: int, n: int, epochs: int, device: str = "cpu"
) -> float:
    """Bare torch training loop of the same network shape: transitions/s (per member)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, obs_dim + act_dim, generator=g).to(device)
    y = torch.randn(n, obs_dim, generator=g).to(device)
    if kind == "mlp":
        h = MLPConfig().hidden_sizes
        members = 1
    else:
        h = EnsembleConfig().hidden_sizes
        members = EnsembleConfig().num_members
    dims = [obs_dim + act_dim, *h, 2 * obs_dim if kind == "ensemble" else obs_dim]
    weights = [torch.randn(members, a, b) * 0.05 for a, b in zip(dims[:-1], dims[1:], strict=True)]
    biases = [torch.zeros(members, 1, b) for b in dims[1:]]
    params = [nn.Parameter(t.to(device)) for t in weights + biases]
    opt = torch.optim.Adam(params, lr=1e-3)
    _synchronize(device)
    with Stopwatch() as clock:
        for _ in range(epochs):
            perm = torch.randperm(n, generator=g).to(device)
            for i in range(0, n, 256):
                idx = perm[i : i + 256]
                out = x[idx].expand(members, -1, -1)
                for k, (w, b) in enumerate(
                    zip(params[: len(weights)], params[len(weights) :], strict=True)
                ):
                    out = torch.baddbmm(b, out, w)
                    if k < len(weights) - 1:
                        out = torch.nn.functional.silu(out)
                loss = (out[..., :obs_dim] - y[idx]).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        _synchronize(device)
    return n * epochs / clock.seconds


def advex_throughput(kind: str, buffer, epochs: int, device: str = "cpu") -> float:  # type: ignore[no-untyped-def]
    # Warm-up fit first: one-time costs (lazy imports, allocator, CUDA context) are not
    # throughput. ``fit`` ends with host-side reads of the scores, so its wall time is synced.
    make_model(kind, buffer.obs_dim, buffer.act_dim).fit(
        buffer, TrainConfig(max_epochs=1, device=device), seed=0, progress=False
    )
    model = make_model(kind, buffer.obs_dim, buffer.act_dim)
    cfg = TrainConfig(max_epochs=epochs, patience=10**6, val_fraction=0.1, device=device)
    history = model.fit(buffer, cfg, seed=0, progress=False)
    n_train = len(buffer.split(cfg.val_fraction, cfg.split_seed)[0])
    return n_train * history.epochs / history.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="HalfCheetah-v5")
    parser.add_argument("--sizes", type=int_list, default="10000,30000,100000")
    parser.add_argument("--throughput-rows", type=int, default=10_000)
    parser.add_argument("--throughput-epochs", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (part 1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternating advex / bare pairs per model (part 1)")
    args = parser.parse_args()
    pin_threads(args.threads)
    device = resolve_device(args.device)

    buffer = collect(args.task, n_steps=args.throughput_rows, seed=0, progress=False)
    print(
        f"training throughput on {args.task}, {len(buffer)} rows, {args.threads} threads, "
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else "")
    )
    print(f"{'model':<10} {'advex rows/s':>13} {'bare torch rows/s':>18} {'advex/bare':>11}")
    for kind in ("mlp", "ensemble"):
        ratios = []
        for _ in range(args.repeats):
            ours = advex_throughput(kind, buffer, args.throughput_epochs, device)
            ref = reference_throughput(
                kind, buffer.obs_dim, buffer.act_dim, int(len(buffer) * 0.9),
                args.throughput_epochs, device,
            )
            ratios.append(ours / ref)
            print(f"{kind:<10} {ours:>13.0f} {ref:>18.0f} {ours / ref:>11.2f}", flush=True)
        if args.repeats > 1:
            print(f"{kind:<10} median advex/bare over {args.repeats} pairs: "
                  f"{median_ratio(ratios):.2f}")
    if args.skip_curve:
        return

    coverage = load_or_build_coverage(args.task, 0, CoverageConfig(), progress=True)
    print(
        f"\nheld-out coverage-set error of a PETS ensemble trained on random data "
        f"({args.task}, max {args.max_epochs} epochs, patience 10)"
    )
    print(
        f"{'transitions':>11} {'mse_1step':>10} {'rollout_k5':>11} {'rollout_k20':>12} "
        f"{'epochs':>7} {'fit_s':>7}"
    )
    for size in args.sizes:
        data = collect(args.task, n_steps=size, seed=1, progress=False)
        model = make_model("ensemble", data.obs_dim, data.act_dim)
        history = model.fit(data, TrainConfig(max_epochs=args.max_epochs), seed=0, progress=True)
        m = evaluate_model(model, coverage)
        print(
            f"{size:>11} {m['mse_1step']:>10.4g} {m['rollout_mse_k5']:>11.4g} "
            f"{m['rollout_mse_k20']:>12.4g} {history.epochs:>7} {history.wall_s:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
