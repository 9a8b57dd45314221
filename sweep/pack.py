"""``python -m sweep.pack LOG FLAGS [LOG FLAGS ...]``: one pack of a sweep's runs, trained in this process.

What the launcher starts (or a SLURM array task runs) for each pack when ``PACK=N`` > 1; each pair is a run's log
(appended, as ``main_imp.py``'s output is for a run alone) and its shell-quoted ``main_imp.py`` flags. Runs train
as ``lottery/pack.py`` says; this process prints one line per run when it ends. The exit status is 0 when every
run finished, 130 when interrupted, else 1 (each run's log says why it failed).
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

from lottery.cli import parse_args
from lottery.pack import train_pack
from utils.errors import exit_status


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) % 2:
        print("usage: python -m sweep.pack LOG FLAGS [LOG FLAGS ...]", file=sys.stderr)
        return 2
    logs = [Path(log) for log in args[::2]]
    try:
        hps = [parse_args(shlex.split(flags)) for flags in args[1::2]]
    except SystemExit as exit:  # argparse has printed why
        return exit.code if isinstance(exit.code, int) else 2
    for log, flags in zip(logs, args[1::2]):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} python main_imp.py {flags}  (in a pack of "
                    f"{len(hps)})\n")

    def body() -> int:
        outcomes = train_pack(hps, logs)
        for hp, log, outcome in zip(hps, logs, outcomes):
            status = "done" if outcome.status == 0 else f"FAILED (exit {outcome.status})"
            print(f"{status}  {hp.run_id()}  log: {log}", flush=True)
        statuses = {o.status for o in outcomes}
        return 0 if statuses == {0} else 130 if 130 in statuses else 1
    return exit_status(body)


if __name__ == "__main__":
    sys.exit(main())
