"""Robustness and analysis of finished runs: evaluation suites, their stored records, summaries and plots.

``SUITES`` is the registry (name -> ``Context -> list[Unit]``); its keys are evaluate.py's ``--suite`` choices.
``clean`` (the run's own test set) is evaluated whenever anything is: the shift gaps and relative mCE need it.
"""
from __future__ import annotations

from typing import Callable

from robustness import adversarial, cka, corruptions, shift
from robustness.units import Context, MissingData, Unit

SUITES: dict[str, Callable[[Context], list[Unit]]] = {
    "clean": shift.clean_units,
    "c10c": corruptions.units,
    "fgsm": adversarial.fgsm_units,
    "pgd": adversarial.pgd_units,
    "autoattack": adversarial.autoattack_units,
    "cifar10.1": shift.cifar101_units,
    "cifar10.2": shift.cifar102_units,
    "cka": cka.units,
}
DEFAULT_SUITES = ("c10c", "fgsm", "pgd", "cifar10.1", "cifar10.2", "cka")

__all__ = ["SUITES", "DEFAULT_SUITES", "Context", "MissingData", "Unit"]
