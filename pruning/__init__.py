"""Pruning: masks as data, scores per method, one shared score-to-mask selection."""
from pruning.mask import Mask, prunable_names
from pruning.scores import SCORERS
from pruning.select import SCOPES, mask_from_scores

__all__ = ["Mask", "prunable_names", "SCORERS", "SCOPES", "mask_from_scores"]
