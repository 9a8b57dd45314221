#!/usr/bin/env bash
# bash scripts/reproduce_gpu.sh -- the paper's headline cells at the paper's recipe, for a GPU (README: Results):
# CIFAR-10 at 1% and 2%, autoaug+cutout, 16 IMP levels of 200 epochs (ResNet-18, width 64), three seeds each,
# the random-pruning control for seed 0; then evaluate.py (CIFAR-10-C, PGD, CKA on the full test set) on the dense
# level and the best ticket of the tickets, and the small files and summaries into results/cifar10_gpu/.
# Runs train one after another, cheapest and most needed first (1% before 2%, tickets before controls), so a
# reproduction cut off by a time limit leaves whole runs, each usable; rerunning resumes. Knobs as for every run
# script (DATA_ROOT, OUT, JOBS, PACK, QUICK, DRY_RUN, LAUNCHER=slurm) and RESULTS, EVAL_WHERE
# (scripts/lib/reproduce.sh). PACK=4 trains each fraction's four runs (the same shapes) in one process, each as
# alone; whether that beats one run at a time on one GPU is what bench/bench_jobs.py measures, not yet done on a
# GPU, so the default and the estimate below stay one run at a time.
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/reproduce.sh"

# measured on one H200 (README: Speed): a whole 16-level run at 1% of CIFAR-10 with the default evaluation every
# 10 epochs; a run at 2% trains twice the steps
SECONDS_1PCT=91

main() {
    EVAL_WHERE=${EVAL_WHERE:-"pruning.prune_method=magnitude"}
    REPRODUCE_COMMAND="bash scripts/reproduce_gpu.sh"
    local strongest=(--dataset cifar10 --augment autoaug --cutout) fraction seed
    sweep_begin gpu
    for fraction in 0.01 0.02; do
        for seed in 0 1 2; do
            sweep_add "${strongest[@]}" --data-fraction "$fraction" --prune-method magnitude --seed "$seed"
        done
        sweep_add "${strongest[@]}" --data-fraction "$fraction" --prune-method random --seed 0
    done
    [[ -n ${QUICK:-} && ${QUICK:-} != 0 ]] || echo "reproduce_gpu: 8 runs of 16 levels (4 at 1%, 4 at 2%); estimated training time on one H200:" \
         "$((4 * SECONDS_1PCT + 4 * 2 * SECONDS_1PCT)) s (about $(((12 * SECONDS_1PCT + 59) / 60)) min, from the" \
         "measured $SECONDS_1PCT s per 1% run), plus the evaluation of 6 runs at 2 levels each"
    reproduce_finish cifar10_gpu --suite c10c,pgd,cka
}

sweep_args 0 0 "bash scripts/reproduce_gpu.sh (no arguments; knobs are environment variables)" "$@"
main
