"""Errors that reach the user as one line, without a traceback, and the exit status of an entry point."""
from __future__ import annotations

import sys
from typing import Callable

INTERRUPTED = "interrupted: rerun the same command to resume from the last checkpoint"


class UserError(Exception):
    """Bad input or environment: the CLI prints the message and exits with status 2."""


class DivergenceError(UserError):
    """Training produced a non-finite loss; finished levels stay intact."""

    def __init__(self, level: int, epoch: int, loss: float):
        super().__init__(f"training diverged at level {level}, epoch {epoch + 1} (loss = {loss}); "
                         f"finished levels are kept, lower --lr or change the recipe")
        self.level, self.epoch = level, epoch


def exit_status(body: Callable[[], int | None]) -> int:
    """Run an entry point's ``body``: its own status (0 when it returns None); a ``UserError`` is one line on
    stderr and status 2; Ctrl-C says how to resume and is status 130 (as a shell reports SIGINT)."""
    try:
        return body() or 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return 130
