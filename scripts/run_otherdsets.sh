#!/usr/bin/env bash
# scripts/run_otherdsets.sh DSET ROOT -- IMP on one of the image-file datasets with the paper's settings for
# them (batch 32, lr 0.001, base augmentation; the recipe per dataset is in README: Datasets).
#   DSET: eurosat_rgb, isic, clamm, cub or imagenet_subset;  ROOT: that dataset's folder (README: Datasets)
# Knobs as for every run script (scripts/lib/sweep.sh): SEEDS, EXTRA, OUT, DRY_RUN, QUICK, JOBS, LAUNCHER, ...
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 2 2 "bash scripts/run_otherdsets.sh DSET ROOT" "$@"
dset=$1
# absolute: the launcher runs from the repository root
DATA_ROOT=$(cd "$SWEEP_CALLER_DIR" && cd "$2" 2>/dev/null && pwd) || { echo "ROOT $2 is not a folder" >&2; exit 2; }
export DATA_ROOT
sweep_begin "$dset"
sweep_add --dataset "$dset" --batch-size 32 --lr 0.001 --augment base
sweep_finish
