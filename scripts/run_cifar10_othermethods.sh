#!/usr/bin/env bash
# scripts/run_cifar10_othermethods.sh PREFIX -- IMP combined with the paper's other data-efficient methods, at 1%
# and 2% of CIFAR-10: cosine and t-vMF heads, harmonic and full-convolution ResNet-18, and ResNet-18 started from
# torchvision's ImageNet weights (fine-tuned at lr 0.001, as the paper did). torchvision downloads those weights;
# offline, IMAGENET_WEIGHTS=PATH names a local copy of its resnet18-f37072fd.pth.
source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"
sweep_args 1 1 "bash scripts/run_cifar10_othermethods.sh PREFIX" "$@"
sweep_begin "$1"
pretrained=(--init imagenet --lr 0.001 ${IMAGENET_WEIGHTS:+--init-checkpoint "$IMAGENET_WEIGHTS"})
for fraction in 0.01 0.02; do
    sweep_add --dataset cifar10 --data-fraction "$fraction" --head cosine
    sweep_add --dataset cifar10 --data-fraction "$fraction" --head tvmf
    sweep_add --dataset cifar10 --data-fraction "$fraction" --arch hresnet18
    sweep_add --dataset cifar10 --data-fraction "$fraction" --arch fresnet18
    sweep_add --dataset cifar10 --data-fraction "$fraction" "${pretrained[@]}"
done
sweep_finish
