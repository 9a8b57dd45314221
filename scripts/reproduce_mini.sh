#!/usr/bin/env bash
# bash scripts/reproduce_mini.sh -- the paper's CIFAR-10 claims at CPU scale, end to end (README: Results):
# 1% of CIFAR-10, a width-16 ResNet-18, 8 IMP levels (down to 21% density) of 50 epochs, the four augmentation
# settings; autoaug+cutout over three seeds, with the random-pruning control for two of them; then evaluate.py
# (CIFAR-10-C, PGD on 250 images, CKA on 2,000) on the dense level and the best ticket of the autoaug+cutout
# tickets, and the small files and summaries into results/cifar10_mini/. About 1.5-2 hours on 2 CPU cores.
# Knobs as for every run script (DATA_ROOT, OUT, JOBS (default 2 here), QUICK, DRY_RUN) and RESULTS, EVAL_WHERE
# (scripts/lib/reproduce.sh). Rerunning resumes: finished runs and evaluations are kept.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/reproduce.sh"

main() {
    export JOBS=${JOBS:-2}
    EVAL_WHERE=${EVAL_WHERE:-"data.augment=autoaug pruning.prune_method=magnitude"}
    REPRODUCE_COMMAND="bash scripts/reproduce_mini.sh"
    local common=(--dataset cifar10 --data-fraction 0.01 --width 16 --epochs 50 --rounds 8 --eval-every 0)
    local strongest=(--augment autoaug --cutout) seed augment
    sweep_begin mini
    # the strongest setting first, each seed's ticket beside its random control (JOBS=2 trains the pairs side by
    # side), so that a reproduction cut off early has the claims' cells complete
    for seed in 0 1; do
        sweep_add "${common[@]}" "${strongest[@]}" --prune-method magnitude --seed "$seed"
        sweep_add "${common[@]}" "${strongest[@]}" --prune-method random --seed "$seed"
    done
    sweep_add "${common[@]}" "${strongest[@]}" --prune-method magnitude --seed 2
    for augment in "${CIFAR10_AUGMENTS[@]:0:3}"; do
        sweep_add "${common[@]}" --augment $augment --prune-method magnitude --seed 0  # unquoted: two words
    done
    reproduce_finish cifar10_mini --suite c10c,pgd,cka --adv-images 250 --cka-images 2000
}

sweep_args 0 0 "bash scripts/reproduce_mini.sh (no arguments; knobs are environment variables)" "$@"
main
