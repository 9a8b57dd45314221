"""``python -m report DIR... [--out DIR] [--metric test_acc|best_test_acc]`` (also scripts/report.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lottery.run_dir import check_writable
from report.control import control_markdown, control_rows
from report.plot import plot_accuracy_vs_density
from report.robust import robustness_markdown, robustness_rows
from report.runs import load_runs
from report.summary import METRICS, summarise, to_csv, to_markdown
from utils.errors import UserError
from utils.io import save_text

ROBUSTNESS_SUMMARY = "robustness.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="report.py", description="Summary table and accuracy-vs-density plot of "
                                     "the run directories under DIR (seeds aggregated).")
    parser.add_argument("dirs", nargs="+", help="folders holding run directories (e.g. runs/PREFIX)")
    parser.add_argument("--out", help="where to write summary.md, summary.csv and accuracy_vs_density.png "
                        "(default: the first DIR)")
    parser.add_argument("--metric", choices=list(METRICS), default="test_acc",
                        help="test_acc: final epoch (default); best_test_acc: best epoch, chosen on the test set")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.dirs)
        if not runs:
            raise UserError(f"no run directories (with hparams.json) under {', '.join(args.dirs)}")
        out = Path(args.out or args.dirs[0])
        check_writable(str(out))  # before the summary is computed: --out a file, or a folder under one
        rows = summarise(runs, args.metric)
        control = control_markdown(control_rows(runs, args.metric))
        markdown = to_markdown(rows, args.metric) + (f"\n{control}" if control else "")
        robustness = robustness_markdown(robustness_rows(runs, args.metric))
        out.mkdir(parents=True, exist_ok=True)
        save_text(markdown, out / "summary.md")
        save_text(to_csv(rows, args.metric), out / "summary.csv")
        plot_accuracy_vs_density(runs, args.metric).savefig(out / "accuracy_vs_density.png", dpi=120)
        written = ["summary.md", "summary.csv", "accuracy_vs_density.png"]
        if robustness:
            save_text(robustness, out / ROBUSTNESS_SUMMARY)
            written.append(ROBUSTNESS_SUMMARY)
    except (FileNotFoundError, UserError) as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 2
    print(markdown)
    print(f"{len(runs)} runs in {len(rows)} settings -> {out}/{', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
