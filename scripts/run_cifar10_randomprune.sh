#!/usr/bin/env bash
# scripts/run_cifar10_randomprune.sh PREFIX [FRACTION ...] -- random-pruning IMP (--prune-method random: the same
# levels as the tickets, random scores), the four augmentation settings, at each FRACTION (default: every
# fraction of the paper, smallest first).
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 1 "" "bash scripts/run_cifar10_randomprune.sh PREFIX [FRACTION ...]" "$@"
sweep_begin "$1"
shift
fractions=("$@")
[ ${#fractions[@]} -gt 0 ] || fractions=("${CIFAR10_FRACTIONS[@]}")
for fraction in "${fractions[@]}"; do
  for augment in "${CIFAR10_AUGMENTS[@]}"; do
    sweep_add --dataset cifar10 --data-fraction "$fraction" --augment $augment --prune-method random
  done
done
sweep_finish
