#!/usr/bin/env bash
# bash scripts/run_cifar10.sh PREFIX FRACTION [imp|random] -- the paper's four augmentation settings on FRACTION of
# CIFAR-10, found by IMP (magnitude pruning, the default) or by random pruning (the control). Knobs: README.
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"

# cifar10_runs FRACTION MODE: queue the four settings (also used by run_cifar10_all.sh)
cifar10_runs() {
    local fraction=$1 method
    case "${2:-imp}" in
        imp) method=magnitude ;;
        random) method=random ;;
        *) echo "MODE must be imp or random, got '$2'" >&2; exit 2 ;;
    esac
    local common=(--dataset cifar10 --data-fraction "$fraction" --prune-method "$method")
    sweep_add "${common[@]}" --augment base
    sweep_add "${common[@]}" --augment contrast
    sweep_add "${common[@]}" --augment randaug --cutout
    sweep_add "${common[@]}" --augment autoaug --cutout
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    sweep_begin "${1:?usage: bash scripts/run_cifar10.sh PREFIX FRACTION [imp|random]}"
    cifar10_runs "${2:?usage: bash scripts/run_cifar10.sh PREFIX FRACTION [imp|random]}" "${3:-imp}"
    sweep_finish
fi
