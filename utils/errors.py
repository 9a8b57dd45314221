"""Errors that reach the user as one line, without a traceback."""


class UserError(Exception):
    """Bad input or environment: the CLI prints the message and exits with status 2."""


class DivergenceError(UserError):
    """Training produced a non-finite loss; finished levels stay intact."""

    def __init__(self, level: int, epoch: int, loss: float):
        super().__init__(f"training diverged at level {level}, epoch {epoch + 1} (loss = {loss}); "
                         f"finished levels are kept, lower --lr or change the recipe")
        self.level, self.epoch = level, epoch
