#!/usr/bin/env bash
# The GPU rows of docs/benchmarks.md, each beside its CPU baseline measured in the same run:
# training throughput (advex fit and a bare torch loop of the same shape), the evaluation's
# stacked fits, and a small comparison with --device cuda against --device cpu.
#     bash benchmarks/gpu.sh [python]      (needs a CUDA GPU; advex installed for that python)
set -euo pipefail
PY=${1:-python}
cd "$(dirname "$0")/.."
for device in cpu cuda; do
    "$PY" benchmarks/models.py --skip-curve --threads 1 --device "$device"
    "$PY" benchmarks/stacked.py --rows 3000 --epochs 20 --threads 1 --device "$device"
done
config=$(mktemp --suffix=.json)
cat > "$config" <<'JSON'
{"task": "InvertedPendulum-v5", "strategies": ["random", "adversarial-sf"], "seeds": [0, 1],
 "steps": 1000, "round_steps": 500, "references": ["no-change", "oracle"],
 "evaluation": {"points": "every", "fit_seeds": 2},
 "coverage": {"n_starts": 200, "n_sb3_steps": 0, "frac_sb3": 0.0, "frac_random": 0.5}}
JSON
out=$(mktemp -d)
for device in cpu cuda; do
    # from $out: the checkout's own advex/ folder must not shadow the installed package
    (cd "$out" && /usr/bin/time -f "compare --device $device: %e s wall" \
        "$PY" -m advex.cli compare --config "$config" --device "$device" --out "$out/$device" \
        --quiet >/dev/null)
done
"$PY" - "$out" <<'PYTHON'
import sys
import pandas as pd
out = sys.argv[1]
cpu, cuda = (pd.read_parquet(f"{out}/{d}/results.parquet") for d in ("cpu", "cuda"))
key = ["strategy", "seed", "env_steps", "metric"]
both = cpu.merge(cuda, on=key, suffixes=("_cpu", "_cuda"))
m = both[both["metric"] == "mse_1step"]
rel = ((m["value_cuda"] - m["value_cpu"]).abs() / m["value_cpu"].abs())
print(f"mse_1step rows: {len(m)}; cuda vs cpu relative difference: median {rel.median():.3g}, "
      f"max {rel.max():.3g}")
print(m[key + ["value_cpu", "value_cuda"]].to_string(index=False))
PYTHON
