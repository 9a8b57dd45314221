#!/usr/bin/env bash
# scripts/run_cifar10_advprop.sh PREFIX -- IMP with AdvProp (1-step PGD, eps 8/255, auxiliary BatchNorms) on every
# CIFAR-10 fraction of the paper: 100%, 50%, 20%, 10%, 2%, 1%.
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 1 1 "bash scripts/run_cifar10_advprop.sh PREFIX" "$@"
sweep_begin "$1"
for fraction in 1 0.5 0.2 0.1 0.02 0.01; do
    sweep_add --dataset cifar10 --data-fraction "$fraction" --advprop
done
sweep_finish
