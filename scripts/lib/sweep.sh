# The shared sweep launcher, sourced by every run script (README: Run scripts):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/sweep.sh"   # cd to the repository root
#   sweep_args 1 1 "bash scripts/x.sh PREFIX" "$@"          # refuse other argument counts: one line, exit 2
#   sweep_begin PREFIX                                     # runs go under ${OUT:-runs}/PREFIX
#   sweep_add --dataset cifar10 --data-fraction 0.01 --augment base   # one run, by its result-affecting flags
#   sweep_finish                                           # launch; exit non-zero if any run failed
#   (or sweep_run, which returns that status instead of exiting, for scripts with steps after training)
#
# The work (seeds, QUICK, EXTRA, parallel runs, logs, SLURM) is done by the Python package sweep/, so that run ids
# and finished runs are computed by the same code as main_imp.py's; this file only collects the list.
SWEEP_CALLER_DIR=${SWEEP_CALLER_DIR:-$PWD}   # relative DATA_ROOT and OUT are taken from where the script started
export SWEEP_CALLER_DIR
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
SWEEP_PREFIX=
SWEEP_RUNS=()

# sweep_args MIN MAX USAGE ARG...: the script's arguments, MIN to MAX of them (MAX empty: any number), the first
# MIN not empty; otherwise "usage: USAGE" on stderr and exit status 2 (an extra argument is not ignored)
sweep_args() {
    local min=$1 max=$2 usage=$3 i
    shift 3
    if (($# < min)) || { [[ -n $max ]] && (($# > max)); }; then
        echo "usage: $usage ($# arguments given)" >&2
        exit 2
    fi
    for ((i = 1; i <= min; i++)); do
        [[ -n ${!i} ]] || { echo "usage: $usage (argument $i is empty)" >&2; exit 2; }
    done
}

# sweep_path PATH: a knob's path as the sweep resolves it, a relative one from where the script was started
sweep_path() {
    case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$SWEEP_CALLER_DIR/$1" ;; esac
}

sweep_begin() {
    SWEEP_PREFIX=${1:?sweep_begin PREFIX}
    SWEEP_RUNS=()
}

sweep_add() {
    SWEEP_RUNS+=("$(printf '%q ' "$@")")
}

sweep_run() {
    [[ -n $SWEEP_PREFIX ]] || { echo "sweep_run: call sweep_begin PREFIX first" >&2; exit 2; }
    ((${#SWEEP_RUNS[@]})) || { echo "sweep_run: no runs were added" >&2; exit 2; }
    python -m sweep "$SWEEP_PREFIX" "${SWEEP_RUNS[@]}"
}

sweep_finish() {
    sweep_run
    exit $?
}
