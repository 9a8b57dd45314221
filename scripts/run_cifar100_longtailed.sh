#!/usr/bin/env bash
# bash scripts/run_cifar100_longtailed.sh PREFIX -- IMP on long-tailed CIFAR-100 (exponential profile: class i
# keeps 500 * R^(i/99) images) for the paper's imbalance ratios R, with AutoAugment + Cutout. Knobs: README.
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 1 1 "bash scripts/run_cifar100_longtailed.sh PREFIX" "$@"
sweep_begin "$1"
for ratio in 0.1 0.05 0.02 0.01; do
    sweep_add --dataset cifar100 --long-tail exp --imbalance "$ratio" --augment autoaug --cutout
done
sweep_finish
