"""Tables and plots from run directories (reads what main_imp.py wrote, nothing else).

    from report import load_runs, summarise, plot_accuracy_vs_density
    runs = load_runs(["runs/sparse"])
    rows = summarise(runs, metric="test_acc")          # one dict per setting, seeds aggregated
    plot_accuracy_vs_density(runs).savefig("acc.png")

``python scripts/report.py DIR...`` writes summary.md, summary.csv and accuracy_vs_density.png.
"""
from report.plot import plot_accuracy_vs_density
from report.runs import RunRecord, load_runs
from report.summary import METRICS, Setting, group_settings, level_curve, summarise, to_csv, to_markdown

__all__ = ["METRICS", "RunRecord", "Setting", "group_settings", "level_curve", "load_runs",
           "plot_accuracy_vs_density", "summarise", "to_csv", "to_markdown"]
