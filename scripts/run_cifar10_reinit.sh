#!/usr/bin/env bash
# scripts/run_cifar10_reinit.sh PREFIX FRACTION -- the tickets of `scripts/run_cifar10.sh PREFIX FRACTION` (same
# PREFIX, SEEDS, EXTRA, QUICK and OUT, so that each run finds its trunk) retrained from a fresh random
# initialisation (--reinit), every finished sparse level, for the four augmentation settings.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 2 2 "bash scripts/run_cifar10_reinit.sh PREFIX FRACTION" "$@"
sweep_begin "$1"
fraction=$2
for augment in "${CIFAR10_AUGMENTS[@]}"; do
  sweep_add --dataset cifar10 --data-fraction "$fraction" --augment $augment --reinit
done
sweep_finish
