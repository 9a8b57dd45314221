#!/usr/bin/env bash
# bash scripts/run_cifar10_ssl.sh PREFIX [FRACTION ...] -- the paper's self-supervised start: SimCLR pretrained once
# on the whole CIFAR-10 training split without labels (pretrain_ssl.py, seed 0, into $OUT/PREFIX/ssl/<run-id>), then
# IMP started from that backbone at lr 0.001 (the paper's fine-tuning) for each FRACTION (default 0.01 0.02) and the
# paper's four augmentation settings. The sweep knobs apply to the IMP runs (README: Sweeps); besides:
#   SSL_CHECKPOINT=PATH  fine-tune from PATH instead (no pretraining)
#   SSL_EXTRA="..."      pretrain_ssl.py flags, e.g. "--epochs 100"; repeat EXTRA's --arch/--width here
# QUICK=1 pretrains a width-8 backbone (the QUICK runs are width 8) on 100 images per class for 2 epochs.
# Pretraining runs here, before the sweep (with LAUNCHER=slurm: pretrain first, e.g. in a job of its own, or give
# SSL_CHECKPOINT); DRY_RUN=1 prints the pretraining command, and the IMP runs once the checkpoint exists.
source "$(dirname "${BASH_SOURCE[0]}")/lib/cifar10_settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 1 "" "bash scripts/run_cifar10_ssl.sh PREFIX [FRACTION ...]" "$@"
sweep_begin "$1"
shift
fractions=("$@")
(($#)) || fractions=(0.01 0.02)

checkpoint=${SSL_CHECKPOINT:+$(sweep_path "$SSL_CHECKPOINT")}
if [[ -z $checkpoint ]]; then
    out=$(sweep_path "${OUT:-$PWD/runs}")
    pretrain=(python pretrain_ssl.py --dataset cifar10 --out "$out/$SWEEP_PREFIX/ssl")
    [[ -n ${DATA_ROOT:-} ]] && pretrain+=(--data-root "$(sweep_path "$DATA_ROOT")")
    [[ ${QUICK:-0} != 0 ]] && pretrain+=(--width 8 --per-class 100 --epochs 2 --knn-every 0)
    read -ra ssl_extra <<< "${SSL_EXTRA:-}"
    pretrain+=("${ssl_extra[@]}")
    checkpoint=$("${pretrain[@]}" --print-checkpoint) || exit 2
    if [[ ! -f $checkpoint ]]; then
        if [[ ${DRY_RUN:-0} != 0 ]]; then
            printf '%q ' "${pretrain[@]}"; echo "  # pretraining, then IMP from $checkpoint"
            exit 0
        fi
        if [[ ${LAUNCHER:-local} == slurm ]]; then
            echo "run_cifar10_ssl.sh: pretrain first (e.g. in a SLURM job of its own):" \
                "$(printf '%q ' "${pretrain[@]}")" >&2
            exit 2
        fi
        echo "pretraining: $(printf '%q ' "${pretrain[@]}")"
        "${pretrain[@]}" || { echo "run_cifar10_ssl.sh: pretraining failed" >&2; exit 1; }
    fi
fi

for fraction in "${fractions[@]}"; do
    for augment in "${CIFAR10_AUGMENTS[@]}"; do
        sweep_add --dataset cifar10 --data-fraction "$fraction" --augment $augment --init-checkpoint "$checkpoint" \
            --lr 0.001
    done
done
sweep_finish
