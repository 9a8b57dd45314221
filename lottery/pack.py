"""Several runs trained in one process, each exactly as it would train alone (``PACK=N`` of the sweep launcher).

Mechanism: each run keeps everything of its own (model, optimizer, data, checkpoints, run directory, and its
random state) and runs in its own thread, but only one thread runs at a time: they take turns, round-robin,
after every chunk of training steps (``TrainHook.on_chunk_end``). A run hands over its turn with its RNG state
saved and takes it back with that state restored, so every random number it draws is the one it would draw
alone, and nothing it computes depends on the other runs: on the CPU every file it writes is identical to the
run alone's (timings apart; tested). On CUDA each run queues its work on its own CUDA stream and hands over
without waiting for it, so the GPU runs the N runs' kernels (CUDA-graph replays) side by side while the host
queues the next run's chunk: the same kernels as alone, so the same results by construction, except where the
kernels chosen differ: cuDNN's autotuning (``cudnn.benchmark``) times candidate algorithms while other runs
share the GPU, and may choose others than alone (tests/test_pack.py names and bounds that).

This, rather than fusing the N models into one (grouped convolutions, ``torch.func`` + ``vmap``, as HFTA does),
keeps each run's arithmetic and its files its own: resume, skip-when-finished and a run's id work per run as
they do alone, and runs may differ in anything that does not change the shapes of their steps (seeds, data
seeds, augmentations, pruning methods). What may share a pack is what steps in lockstep: ``pack_key``.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

from lottery.hparams import Hparams
from lottery.run_dir import RunDir
from training.hooks import TrainHook
from utils.errors import UserError, exit_status
from utils.seeding import rng_state, set_rng_state


# What runs sharing a pack must agree in, as (group, field) of ``Hparams``: the same architecture and width,
# dataset, input size and subset size, batch size, epochs, levels and schedule, so that their steps have one shape
# and their levels last alike; and the same device settings. Seeds, data seeds, augmentation and pruning method
# may differ.
PACK_FIELDS = (("data", "dataset"), ("data", "image_size"), ("data", "data_fraction"), ("data", "per_class"),
               ("data", "long_tail"), ("data", "imbalance"), ("model", "arch"), ("model", "width"),
               ("model", "head"), ("model", "match_density"), ("training", "batch_size"), ("training", "epochs"),
               ("training", "schedule"), ("training", "precision"), ("job", "rounds"), ("job", "device"),
               ("job", "compile"), ("job", "data_path"))


def pack_key(hp: Hparams) -> tuple:
    """Runs with equal keys can share a pack (``PACK_FIELDS``)."""
    return tuple(getattr(getattr(hp, group), name) for group, name in PACK_FIELDS)


class Turns:
    """Whose turn it is among the pack's runs: one runs, the others wait; a run that ends leaves the round."""

    def __init__(self, n: int):
        self._cond = threading.Condition()
        self._waiting = list(range(n))  # the runs still in the round, in turn order
        self._turn = 0
        self.stop = False  # set on Ctrl-C: each run stops at its next turn

    def wait(self, i: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn == i)
        if self.stop:
            raise KeyboardInterrupt

    def _next(self, i: int) -> None:
        later = [k for k in self._waiting if k > i]
        self._turn = (later or self._waiting or [-1])[0]
        self._cond.notify_all()

    def hand_on(self, i: int) -> None:
        with self._cond:
            self._next(i)

    def leave(self, i: int) -> None:
        with self._cond:
            self._waiting.remove(i)
            if self._turn == i:
                self._next(i)


class TakeTurns(TrainHook):
    """Run ``index``'s hook: after each chunk of steps, its RNG state saved, the turn to the next run."""

    def __init__(self, turns: Turns, index: int):
        self.turns, self.index = turns, index

    def on_chunk_end(self, trainer) -> None:
        state = rng_state()
        self.turns.hand_on(self.index)
        self.turns.wait(self.index)
        set_rng_state(state)


class ThreadStreams:
    """``sys.stdout`` / ``sys.stderr`` while a pack trains: what a run's thread prints goes to that run's log, the
    rest to the stream it replaced."""

    def __init__(self, fallback: TextIO):
        self.fallback = fallback
        self.encoding = getattr(fallback, "encoding", "utf-8")
        self.targets: dict[int, TextIO] = {}

    def _target(self) -> TextIO:
        return self.targets.get(threading.get_ident(), self.fallback)

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target().fileno()


@contextlib.contextmanager
def routed_output() -> Iterator[tuple[ThreadStreams, ThreadStreams]]:
    out, err = ThreadStreams(sys.stdout), ThreadStreams(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = out.fallback, err.fallback


@dataclass
class Outcome:
    """How one run of a pack ended: ``status`` as ``main_imp.py``'s exit status (0 done, 2 refused or diverged,
    1 crashed, 130 interrupted)."""
    status: int = 1
    records: list[dict] | None = None


def take_turns(bodies: Sequence[Callable[[TrainHook], None]], cuda: bool = False) -> None:
    """Run each body in its own thread, one at a time: body i gets the hook that hands the turn on after each chunk
    of steps, starts from the RNG state this process had when called, and, with ``cuda``, queues its work on its
    own CUDA stream. A body that raises ends its thread (the others go on); Ctrl-C stops each at its next turn."""
    import torch  # here: the sweep launcher reads pack_key without starting torch

    turns = Turns(len(bodies))
    start_state = rng_state()  # what a fresh process's run would start from (each seeds its streams first)

    def thread(i: int) -> None:
        try:
            turns.wait(i)
            set_rng_state(start_state)
            stream = torch.cuda.Stream() if cuda else None
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                bodies[i](TakeTurns(turns, i))
                if stream is not None:
                    stream.synchronize()
        finally:
            turns.leave(i)

    threads = [threading.Thread(target=thread, args=(i,), name=f"pack-run-{i}") for i in range(len(bodies))]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.05)
    except KeyboardInterrupt:  # the main thread gets Ctrl-C: every run stops at its next turn, checkpointed
        turns.stop = True
        for t in threads:
            t.join()
        raise


def train_pack(hps: Sequence[Hparams], logs: Sequence[Path | None],
               train: Callable[[Hparams, Sequence[TrainHook]], list[dict]] | None = None,
               hooks: Sequence[Sequence[TrainHook]] | None = None) -> list[Outcome]:
    """Train the runs ``hps`` in this process, taking turns (see the module's docstring); run i prints to
    ``logs[i]`` (appended; None: this process's output). ``train`` is ``lottery.runner.run`` unless given,
    ``hooks[i]`` run i's hooks after its turn-taking one. A failing run does not stop the others."""
    import torch

    if train is None:
        from lottery.runner import run as train
    if len({pack_key(hp) for hp in hps}) > 1:
        raise UserError(f"these runs cannot share a pack (they differ in {', '.join(_differing(hps))})")
    outcomes = [Outcome() for _ in hps]
    cuda = torch.cuda.is_available() and any(_device(hp).startswith("cuda") for hp in hps)

    def body(i: int, streams: tuple[ThreadStreams, ThreadStreams], turn: TrainHook) -> None:
        log = open(logs[i], "a") if logs[i] is not None else None
        for s in streams if log is not None else ():
            s.targets[threading.get_ident()] = log
        def train_one() -> None:
            outcomes[i].records = train(hps[i], [turn, *(hooks[i] if hooks else ())])
        try:
            outcomes[i].status = exit_status(train_one)
        except Exception:  # noqa: BLE001 (the run's log gets the traceback; the others go on)
            traceback.print_exc()
            outcomes[i].status = 1
        finally:
            with contextlib.suppress(UserError):  # its training lock, as a run alone drops it when its process ends
                RunDir(hps[i]).release()
            if log is not None:
                for s in streams:
                    s.targets.pop(threading.get_ident(), None)
                log.close()

    with routed_output() as streams:
        take_turns([lambda turn, i=i: body(i, streams, turn) for i in range(len(hps))], cuda)
    return outcomes


def _device(hp: Hparams) -> str:
    return "cuda" if hp.job.device == "auto" else hp.job.device  # auto only means cuda where there is one


def _differing(hps: Sequence[Hparams]) -> list[str]:
    keys = [pack_key(hp) for hp in hps]
    return [name for (_, name), *values in zip(PACK_FIELDS, *keys) if len(set(values)) > 1]
