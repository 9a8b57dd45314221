#!/usr/bin/env bash
# scripts/run_cifar10_pai.sh PREFIX FRACTION -- the one-shot baselines at every ticket density 0.8^k, k = 1..15,
# for the four augmentation settings: pruning at initialisation (SNIP, GraSP, SynFlow, random masks with ERK and
# uniform layer densities) and one-shot magnitude pruning of the trained dense network (OMP).
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 2 2 "bash scripts/run_cifar10_pai.sh PREFIX FRACTION" "$@"
sweep_begin "$1"
fraction=$2
for augment in "${CIFAR10_AUGMENTS[@]}"; do
  for method in snip grasp synflow random_erk random_uniform omp; do
    for density in "${TICKET_DENSITIES[@]}"; do
      sweep_add --dataset cifar10 --data-fraction "$fraction" --augment $augment --prune-method "$method" \
        --target-density "$density"
    done
  done
done
sweep_finish
