"""Pruning: masks as data, scores per method, one shared score-to-mask selection."""
from pruning.mask import Mask, prunable_names
from pruning.methods import METHODS, SCORERS, prune
from pruning.scores import ScoreContext
from pruning.select import SCOPES, mask_from_scores

__all__ = ["Mask", "prunable_names", "METHODS", "SCORERS", "ScoreContext", "SCOPES",
           "mask_from_scores", "prune"]
