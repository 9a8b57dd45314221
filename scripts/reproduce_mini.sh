#!/usr/bin/env bash
# bash scripts/reproduce_mini.sh -- the paper's CIFAR-10 claims at CPU scale, end to end (README: Results):
# 1% of CIFAR-10, a width-16 ResNet-18, 8 IMP levels (down to 21% density) of 50 epochs, the four augmentation
# settings, autoaug+cutout over three seeds with the random-pruning control for two of them; then evaluate.py on
# the dense level and the best ticket, and the published files under results/cifar10_mini/. About 2 hours on 2
# CPU cores (JOBS=2). Knobs as for every run script (DATA_ROOT, OUT, JOBS, QUICK, DRY_RUN); rerunning resumes.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"

main() {
    export JOBS=${JOBS:-2}
    local common=(--dataset cifar10 --data-fraction 0.01 --width 16 --epochs 50 --rounds 8 --eval-every 0)
    local strongest=(--augment autoaug --cutout) seed augment
    sweep_begin mini
    # the strongest setting first, each seed's ticket beside its random control, so that a cut-off run has the
    # claims' cells complete; two at a time (JOBS=2), as the pairs are listed
    for seed in 0 1; do
        sweep_add "${common[@]}" "${strongest[@]}" --prune-method magnitude --seed "$seed"
        sweep_add "${common[@]}" "${strongest[@]}" --prune-method random --seed "$seed"
    done
    sweep_add "${common[@]}" "${strongest[@]}" --prune-method magnitude --seed 2
    for augment in "${CIFAR10_AUGMENTS[@]:0:3}"; do
        sweep_add "${common[@]}" --augment $augment --prune-method magnitude --seed 0  # unquoted: two words
    done
    sweep_run || exit $?
}

sweep_args 0 0 "bash scripts/reproduce_mini.sh (no arguments; knobs are environment variables)" "$@"
main
exit
