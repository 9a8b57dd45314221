#!/usr/bin/env bash
# bash scripts/run_cifar10_all.sh PREFIX [imp|random] -- run_cifar10.sh's four settings at every data fraction
# of the paper, smallest (cheapest) first, as one sweep. Knobs: README.
source "$(dirname "${BASH_SOURCE[0]}")/run_cifar10.sh"
sweep_args 1 2 "bash scripts/run_cifar10_all.sh PREFIX [imp|random]" "$@"
sweep_begin "$1"
for fraction in "${CIFAR10_FRACTIONS[@]}"; do
    cifar10_runs "$fraction" "${2:-imp}"
done
sweep_finish
