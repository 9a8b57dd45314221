"""The --prune-method registry: which score each method ranks by, when it prunes, and what it needs.

Every method goes through ``prune``, which turns scores into a mask with the one ``mask_from_scores``:

* ``imp`` methods prune at every level, scoring the previous level's trained weights (``magnitude``: IMP;
  ``random``: the same loop with random scores);
* ``trained`` prunes once, scoring the trained dense level 0 (``omp``: one-shot magnitude pruning);
* ``init`` methods prune once, scoring the initial weights (SNIP, GraSP, SynFlow, random ERK / uniform masks).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from torch import nn

from pruning import saliency, scores
from pruning.mask import Mask
from pruning.scores import ScoreContext, Scorer
from pruning.select import mask_from_scores

SCORERS: dict[str, Scorer] = {"magnitude": scores.magnitude, "random": scores.random,
                              "random_erk": scores.random_erk, "random_uniform": scores.random_uniform,
                              "snip": saliency.snip, "grasp": saliency.grasp, "synflow": saliency.synflow}


@dataclass(frozen=True)
class Method:
    scorer: str  # a key of SCORERS
    when: str  # "imp", "trained" or "init" (module docstring)
    needs_data: bool = False  # scores on batches of the training subset (ScoreContext.batches)
    iterative: bool = False  # pruned in --synflow-rounds rounds of exponentially decreasing density


METHODS: dict[str, Method] = {
    "magnitude": Method("magnitude", "imp"),
    "random": Method("random", "imp"),
    "omp": Method("magnitude", "trained"),
    "snip": Method("snip", "init", needs_data=True),
    "grasp": Method("grasp", "init", needs_data=True),
    "synflow": Method("synflow", "init", iterative=True),
    "random_erk": Method("random_erk", "init"),
    "random_uniform": Method("random_uniform", "init"),
}


def prune(scorer: str, model: nn.Module, previous: Mask, density: float, scope: str, ctx: ScoreContext,
          rounds: int = 1) -> Mask:
    """Score ``model`` (a copy of it, masked by ``previous``) and keep ``density`` of all prunable weights.

    With ``rounds > 1`` (SynFlow's iterative pruning) the density falls geometrically from the previous mask's
    to ``density``, rescoring the masked network after every round; the last round reaches ``density`` exactly.
    """
    work = copy.deepcopy(model)
    start, mask = previous.density(), previous
    for r in range(1, rounds + 1):
        target = density if r == rounds else start * (density / start) ** (r / rounds)
        mask.apply_(work)
        round_scores = SCORERS[scorer](work, mask, dataclasses.replace(ctx, density=target))
        mask = mask_from_scores(round_scores, target, scope, mask)
    return mask
