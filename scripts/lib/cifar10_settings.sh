# The CIFAR-10 settings of the main sweep (scripts/run_cifar10.sh, run_cifar10_all.sh) and the baseline scripts:
# the paper's data fractions (smallest first) and its four augmentation settings, and the ticket densities 0.8^k
# of IMP levels 1-15 at the default --prune-rate 0.2. Sourced, not run.
CIFAR10_FRACTIONS=(0.01 0.02 0.1 0.2 0.5 1)
CIFAR10_AUGMENTS=("base" "contrast" "randaug --cutout" "autoaug --cutout")
TICKET_DENSITIES=($(awk 'BEGIN { for (k = 1; k <= 15; k++) printf "%.10g\n", 0.8 ^ k }'))
