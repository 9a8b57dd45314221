#!/usr/bin/env bash
# Speed of the paper recipe on one GPU: ResNet-18, batch 100, --augment autoaug --cutout, bf16, test set
# evaluated once per level. Built to run as one unattended job (one call on a borrowed GPU): every step runs
# under `timeout $LIMIT`, writes its whole output to LOGS/<step>.log and prints only its end, and a summary of
# all steps comes last. Steps:
#   check    bench/gpu_check.py: the CUDA path stage by stage (a hang stops there, with its stack printed);
#            when it fails, only `tests` still runs
#   tests    python -m pytest -q -m cuda (TESTS=1)
#   full     100%: the 1% cut repeated TILE (100) times, i.e. 50,000 images and 500 steps per epoch, for each
#            compile mode, so the timing matches the full set even where only a 1% cut is at hand
#   speedups bench/bench_speedups.py at 100%: what each speed-up of the step buys (SPEEDUPS=1)
#   profile  bench/profile_step.py at 100% with the default settings (PROFILE=1)
#   one      1% of CIFAR-10 (50 images per class): seconds per epoch and one whole level, for each compile mode
#   imp      one complete 16-level IMP run at 1% through main_imp.py, timed end to end
#   pack     bench/bench_jobs.py: N = 1, 2, 4, 8 runs one after another, at once (JOBS) and packed (PACK), at 1%
#            and at 100% (tiled) (PACK=1)
#
#   bash bench/bench_paper.sh DATA_ROOT [OUT]      # DATA_ROOT holds cifar10.npz (full set or a cut)
#
# Knobs (environment): COMPILE_MODES (default "off graph full"), TILE (default 100), EXTRA (flags added to every
# run, e.g. "--device cpu --width 4 --epochs 2" for a quick check on a CPU with COMPILE_MODES=off), LIMIT
# (seconds each step may take, default 300), CHECK=0 (skip the check), CHECK_STAGES (default all), STAGE_LIMIT
# (seconds per check stage, default 60), TESTS=1, SPEEDUPS=1, PROFILE=1, PACK=1 (with PACK_JOBS, default
# "1 2 4 8", and PACK_EPOCHS, the epochs timed at 1%, default 20), LOGS (default OUT/logs), PYTHON (default
# python, else python3).
set -uo pipefail
root=${1:?usage: bash bench/bench_paper.sh DATA_ROOT [OUT]}
out=${2:-runs/bench_paper}
cd "$(dirname "$0")/.."
py=${PYTHON:-$(command -v python >/dev/null && echo python || echo python3)}
limit=${LIMIT:-300}
stage_limit=${STAGE_LIMIT:-60}
tile=${TILE:-100}
logs=${LOGS:-$out/logs}
mkdir -p "$logs"
rm -f "$logs"/{check,tests,full,speedups,profile,one,imp,pack_one,pack_full}.log  # the summary reads this run's logs only
recipe="--data-root $root --per-class 50 --augment autoaug --cutout --eval-every 0 ${EXTRA:-}"
cases=()
for mode in ${COMPILE_MODES:-off graph full}; do
    cases+=(--case "--compile $mode")
done
summary=()
failed=0

# step NAME SECONDS COMMAND...: run under a time limit, output to LOGS/NAME.log, print its end; exit status kept
step() {
    local name=$1 seconds=$2 started rc
    shift 2
    echo "== $name: started $(date +%T), limit $seconds s =="
    started=$(date +%s)
    timeout -k 10 "$seconds" "$@" >"$logs/$name.log" 2>&1
    rc=$?
    tail -n "${TAIL:-25}" "$logs/$name.log"
    local note=""
    [[ $rc == 124 || $rc == 137 ]] && note=" (time limit)"
    summary+=("$name: exit $rc in $(($(date +%s) - started)) s$note")
    echo "== $name: exit $rc =="
    [[ $rc == 0 ]] || failed=1
    return $rc
}

finish() {
    echo; echo "== summary (logs in $logs) =="
    printf '%s\n' "${summary[@]}"
    [[ -f $logs/full.log ]] && { echo "100% (1% x $tile):"; grep '^|' "$logs/full.log"; }
    [[ -f $logs/speedups.log ]] && { echo "speed-ups at 100%:"; grep '^|' "$logs/speedups.log"; }
    [[ -f $logs/one.log ]] && { echo "1% of CIFAR-10:"; grep '^|' "$logs/one.log"; }
    [[ -f $logs/profile.log ]] && grep -E '^(SGD update|whole step)' "$logs/profile.log"
    [[ -f $logs/imp.log ]] && grep '^IMP run' "$logs/imp.log"
    [[ -f $logs/pack_one.log ]] && { echo "runs packed, 1%:"; grep '^|' "$logs/pack_one.log"; }
    [[ -f $logs/pack_full.log ]] && { echo "runs packed, 100% (1% x $tile):"; grep '^|' "$logs/pack_full.log"; }
    return 0
}

check_ok=0
if [[ ${CHECK:-1} != 0 ]]; then
    stages=${CHECK_STAGES:-cuda,eager,graph,augment,epoch,tiled,compile}
    n_stages=$(tr , '\n' <<<"$stages" | wc -l)
    step check "$((n_stages * (stage_limit + 15)))" "$py" bench/gpu_check.py --flags "$recipe" \
        --tile "$tile" --stages "$stages" --limit "$stage_limit" || check_ok=$?
fi
# the cuda tests one after another on the one device, without pytest.ini's workers (and so without pytest-xdist,
# which a GPU machine's own environment may lack)
[[ ${TESTS:-0} == 1 ]] && step tests "$limit" "$py" -m pytest -q -m cuda -o addopts="-p no:cacheprovider" \
    -o faulthandler_timeout=$((limit - 20))
if [[ $check_ok != 0 ]]; then
    echo "the stage-by-stage check failed: nothing else is timed"
    finish
    exit 1
fi
echo "== 100% (1% x $tile) =="
step full "$limit" "$py" bench/bench.py --common "$recipe" "${cases[@]}" --tile "$tile" --epochs 3 \
    --warmup-epochs 1
[[ ${SPEEDUPS:-0} == 1 ]] && step speedups "$limit" "$py" bench/bench_speedups.py --common "$recipe" \
    --tile "$tile" --variants "before,fused SGD,compile model,compile,default" --limit "$((limit / 4))"
[[ ${PROFILE:-0} == 1 ]] && step profile "$limit" "$py" bench/profile_step.py --common "$recipe" \
    --tile "$tile"
echo "== 1% of CIFAR-10 =="
step one "$limit" "$py" bench/bench.py --common "$recipe" "${cases[@]}" --full-level
echo "== one IMP run at 1% =="
for done_run in "$out"/*/hparams.json; do  # an earlier run's finished levels would not be trained again
    [[ -e $done_run ]] && rm -rf -- "${done_run%/hparams.json}"
done
step imp "$limit" bash -c 'started=$(date +%s.%N); "$0" main_imp.py $1 --out "$2" &&
    echo "IMP run at 1%: $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $started}") s in all, results in $2"' \
    "$py" "$recipe" "$out"
if [[ ${PACK:-0} == 1 ]]; then
    echo "== several runs on one device: one after another, JOBS, PACK =="
    # shellcheck disable=SC2086  # PACK_JOBS is a list of numbers
    step pack_one "$limit" "$py" bench/bench_jobs.py --common "$recipe" --jobs ${PACK_JOBS:-1 2 4 8} \
        --epochs "${PACK_EPOCHS:-20}"
    # shellcheck disable=SC2086
    step pack_full "$limit" "$py" bench/bench_jobs.py --common "$recipe" --jobs ${PACK_JOBS:-1 2 4 8} --epochs 2 \
        --tile "$tile"
fi
finish
exit $failed
