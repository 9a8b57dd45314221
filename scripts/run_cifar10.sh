#!/usr/bin/env bash
# bash scripts/run_cifar10.sh PREFIX FRACTION [imp|random] -- the paper's four augmentation settings on FRACTION of
# CIFAR-10, found by IMP (magnitude pruning, the default) or by random pruning (the control). Knobs: README.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"

# cifar10_runs FRACTION MODE: queue the four settings (also used by run_cifar10_all.sh)
cifar10_runs() {
    local fraction=$1 method augment
    case "${2:-imp}" in
        imp) method=magnitude ;;
        random) method=random ;;
        *) echo "MODE must be imp or random, got '$2'" >&2; exit 2 ;;
    esac
    local common=(--dataset cifar10 --data-fraction "$fraction" --prune-method "$method")
    for augment in "${CIFAR10_AUGMENTS[@]}"; do
        sweep_add "${common[@]}" --augment $augment  # unquoted: "randaug --cutout" is two arguments
    done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    sweep_args 2 3 "bash scripts/run_cifar10.sh PREFIX FRACTION [imp|random]" "$@"
    sweep_begin "$1"
    cifar10_runs "$2" "${3:-imp}"
    sweep_finish
fi
