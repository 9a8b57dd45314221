#!/usr/bin/env bash
# Speed of the paper recipe on one GPU: ResNet-18, batch 100, --augment autoaug --cutout, bf16, test set
# evaluated once per level. First proves the path stage by stage (scripts/gpu_check.py: a hang stops there with
# its stack printed), then prints three tables and one total:
#   1. 1% of CIFAR-10 (50 images per class): seconds per epoch and one whole level, for each compile mode;
#   2. 100%: the same 1% repeated 100 times (--tile 100), i.e. 50,000 images and 500 steps per epoch, so the
#      timing matches the full set even where only a 1% cut of the data is at hand;
#   3. one complete 16-level IMP run at 1% through main_imp.py, timed end to end.
#
#   bash scripts/bench_paper.sh DATA_ROOT [OUT]      # DATA_ROOT holds cifar10.npz (full set or a cut)
#
# Knobs (environment): COMPILE_MODES (default "off graph full"), TILE (default 100), EXTRA (flags added to every
# run, e.g. "--device cpu --width 4 --epochs 2" for a quick check on a CPU with COMPILE_MODES=off), LIMIT
# (seconds each step may take before it is stopped, default 300), CHECK=0 (skip the stage-by-stage check).
set -euo pipefail
root=${1:?usage: bash scripts/bench_paper.sh DATA_ROOT [OUT]}
out=${2:-runs/bench_paper}
cd "$(dirname "$0")/.."
limit=${LIMIT:-300}
recipe="--data-root $root --per-class 50 --augment autoaug --cutout ${EXTRA:-}"
cases=()
for mode in ${COMPILE_MODES:-off graph full}; do
    cases+=(--case "--compile $mode")
done

if [[ ${CHECK:-1} != 0 ]]; then
    echo "== stage-by-stage check =="
    python scripts/gpu_check.py --flags "$recipe --eval-every 0" --tile "${TILE:-100}" --limit "$limit"
fi
echo "== 1% of CIFAR-10 =="
timeout "$limit" python scripts/bench.py --common "$recipe --eval-every 0" "${cases[@]}" --full-level
echo "== 100% (1% x ${TILE:-100}) =="
timeout "$limit" python scripts/bench.py --common "$recipe --eval-every 0" "${cases[@]}" --tile "${TILE:-100}" \
    --epochs 3
echo "== one IMP run at 1% =="
started=$(date +%s.%N)
timeout "$limit" python main_imp.py $recipe --eval-every 0 --out "$out"
echo "IMP run at 1%: $(python -c "print(f'{$(date +%s.%N) - $started:.1f}')") s in all, results in $out"
