"""Per-layer density across IMP levels: which layers a ticket keeps dense (the paper: the early ones).

Read from each finished level's ``metrics.json`` (``layers``: kept / total / density per prunable parameter).
"""
from __future__ import annotations

from dataclasses import dataclass

from lottery.run_dir import RunDir
from utils.io import load_json


@dataclass
class LayerDensities:
    layers: list[str]              # prunable parameter names, in model order
    levels: list[int]
    densities: list[float]         # overall prunable density per level
    table: list[list[float]]       # table[i][j]: density of layers[i] at levels[j]

    def format(self) -> str:
        """A text table, layers as rows and levels as columns, in percent."""
        width = max(len(name) for name in self.layers)
        lines = [f"{'layer':<{width}} " + " ".join(f"{f'L{k}':>6}" for k in self.levels),
                 f"{'(all)':<{width}} " + " ".join(f"{100 * d:6.1f}" for d in self.densities)]
        lines += [f"{name:<{width}} " + " ".join(f"{100 * d:6.1f}" for d in row)
                  for name, row in zip(self.layers, self.table)]
        return "\n".join(lines)


def _per_layer(run: RunDir, level: int) -> dict[str, dict]:
    return load_json(run.level(level) / "metrics.json")["layers"]  # every finished level records them


def layer_densities(run: RunDir, levels: list[int] | None = None) -> LayerDensities:
    """The per-layer densities of ``levels`` (default: every finished level) of one run."""
    levels = run.finished_levels() if levels is None else levels
    per_level = [_per_layer(run, k) for k in levels]
    layers = list(per_level[0]) if per_level else []
    table = [[p[name]["density"] for p in per_level] for name in layers]
    densities = [sum(p[n]["kept"] for n in p) / sum(p[n]["total"] for n in p) for p in per_level]
    return LayerDensities(layers, levels, densities, table)
