"""``python -m report DIR... [--out DIR] [--metric test_acc|best_test_acc]`` (also scripts/report.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from report.control import control_markdown, control_rows
from report.plot import plot_accuracy_vs_density
from report.robust import robustness_markdown, robustness_rows
from report.runs import load_runs
from report.summary import METRICS, summarise, to_csv, to_markdown

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
    except FileNotFoundError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 2
    if not runs:
        print(f"report: error: no run directories (with hparams.json) under {', '.join(args.dirs)}", file=sys.stderr)
        return 2
    out = Path(args.out or args.dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    rows = summarise(runs, args.metric)
    control = control_markdown(control_rows(runs, args.metric))
    markdown = to_markdown(rows, args.metric) + (f"\n{control}" if control else "")
    (out / "summary.md").write_text(markdown)
    (out / "summary.csv").write_text(to_csv(rows, args.metric))
    plot_accuracy_vs_density(runs, args.metric).savefig(out / "accuracy_vs_density.png", dpi=120)
    written = ["summary.md", "summary.csv", "accuracy_vs_density.png"]
    robustness = robustness_markdown(robustness_rows(runs, args.metric))
    if robustness:
        (out / ROBUSTNESS_SUMMARY).write_text(robustness)
        written.append(ROBUSTNESS_SUMMARY)
    print(markdown)
    print(f"{len(runs)} runs in {len(rows)} settings -> {out}/{', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
