# The steps a reproduction script runs after its sweep (scripts/reproduce_mini.sh, reproduce_gpu.sh): evaluate.py
# on the dense level and the best ticket (python -m sweep.evaluate), then the small files and every summary into
# results/NAME (python -m report.publish). Sourced after lib/sweep.sh, in the repository root. Knobs as for every
# run script, plus RESULTS (default results/NAME; with QUICK=1, the sweep folder's published/, so a plumbing run
# never overwrites the committed results, and the attacks and CKA on a few images) and EVAL_WHERE (which runs to
# evaluate, KEY=VALUE words).

# reproduce_finish NAME EVALUATE_FLAGS...: train (sweep_run), evaluate, publish; exits with the first failure
reproduce_finish() {
    local name=$1 status
    shift
    local sweep_dir data_root results c10c where=()
    sweep_dir=$(sweep_path "${OUT:-$PWD/runs}")/$SWEEP_PREFIX  # defaults in the repository, as the sweep's
    data_root=$(sweep_path "${DATA_ROOT:-$PWD/data}")
    if [[ -n ${RESULTS:-} ]]; then
        results=$(sweep_path "$RESULTS")
    elif [[ -n ${QUICK:-} && ${QUICK:-} != 0 ]]; then
        results=$sweep_dir/published
    else
        results=$PWD/results/$name
    fi
    c10c=$data_root/CIFAR-10-C
    [[ -d $c10c || ! -d $data_root/CIFAR-10-C-mini ]] || c10c=$data_root/CIFAR-10-C-mini
    for condition in ${EVAL_WHERE:-}; do where+=(--where "$condition"); done
    local quick=()
    [[ -z ${QUICK:-} || ${QUICK:-} == 0 ]] || quick=(--adv-images 20 --cka-images 50 --eval-batch-size 250)
    local evaluate=(python -m sweep.evaluate "$sweep_dir" "${where[@]}" --jobs "${JOBS:-1}" --
                    --data-root "$data_root" --c10c-root "$c10c" "$@" "${quick[@]}")
    local publish=(python -m report.publish "$sweep_dir" "$results" --command "$REPRODUCE_COMMAND")
    sweep_run || exit $?
    if [[ -n ${DRY_RUN:-} && ${DRY_RUN:-} != 0 ]]; then
        printf '%q ' "${evaluate[@]}"; echo
        printf '%q ' "${publish[@]}"; echo
        exit 0
    fi
    "${evaluate[@]}" || exit $?
    "${publish[@]}"
    exit $?
}
