"""The sweep launcher behind ``scripts/lib/sweep.sh``: many ``main_imp.py`` runs, in parallel or as a SLURM array.

``plan`` turns the script's list of runs and the knobs (environment variables) into concrete runs, ``local`` runs
them on this machine, ``slurm`` submits them as one job array. ``python -m sweep PREFIX RUN...`` is what
``sweep_finish`` calls; see SWEEP_API in the README's "Run scripts" section.
"""
