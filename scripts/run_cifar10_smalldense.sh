#!/usr/bin/env bash
# scripts/run_cifar10_smalldense.sh PREFIX FRACTION [DENSITY ...] -- the small dense baseline: for each
# augmentation setting, a dense ResNet-18 narrowed to about DENSITY x the prunable weights (--match-density),
# trained once. Give the best tickets' densities (from the report of the main sweep); by default every ticket
# density 0.8^k, k = 1..15, so whichever level turns out best has its match.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 2 "" "bash scripts/run_cifar10_smalldense.sh PREFIX FRACTION [DENSITY ...]" "$@"
sweep_begin "$1"
fraction=$2
shift 2
densities=("$@")
[ ${#densities[@]} -gt 0 ] || densities=("${TICKET_DENSITIES[@]}")
for augment in "${CIFAR10_AUGMENTS[@]}"; do
  for density in "${densities[@]}"; do
    sweep_add --dataset cifar10 --data-fraction "$fraction" --augment $augment --match-density "$density"
  done
done
sweep_finish
