"""Training over random mini-batches (chapters 4 and 6): the Trainer.

:class:`Trainer` draws a mini-batch, takes the gradient (backprop, numerical, or both to cross-check
them), lets an optimiser update the parameters in place and measures train and test accuracy every
epoch. :meth:`Trainer.fit` returns a :class:`TrainResult`; :meth:`Trainer.train` is the book's
spelling. Built the book's way, ``Trainer(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
optimizer, optimizer_param, evaluate_sample_num_per_epoch, verbose)``, it runs the book's loop (see
:mod:`scratchnet._book_loop`). What else a run does lives beside it: the run folder and logs in
:mod:`scratchnet.runlog`, curves in :mod:`scratchnet.plot`, checkpoint files in
:mod:`scratchnet.checkpoint`, Ctrl-C in :mod:`scratchnet.interrupt`. The reasoning is in docs/training.md.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _book_loop, checkpoint
from ._checks import check_float64_params, check_positive, check_positive_int
from .checkpoint import read_checkpoint_meta
from .gradcheck import GradCheckResult, gradient_check
from .interrupt import StopOnCtrlC
from .optimizers import Optimizer, get_optimizer
from .plot import PLOT_HINT, plot_history
from .runlog import Progress, library_versions, prepare_run_dir, write_logs

__all__ = [
    "Trainer",
    "TrainResult",
    "TrainingDiverged",
    "GradientCheckError",
    "GRADIENTS",
    "backprop_gradient",
    "library_versions",
    "read_checkpoint_meta",
]

#: A gradient source: ``grad_fn(network, x, t) -> (loss, grads)`` for one mini-batch.
GradFn = Callable[[Any, np.ndarray, np.ndarray], "tuple[float, Mapping[str, np.ndarray]]"]

#: What a network needs for scratchnet's loop, and (see _book_loop.CONTRACT) for the book's.
CONTRACT = ("params", "loss_and_gradient", "accuracy", "state_dict", "load_state_dict")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the update of that step was not applied."""


class GradientCheckError(RuntimeError):
    """Backprop and numerical gradients disagreed beyond the tolerance (``grad="check"``)."""


def backprop_gradient(network, x: np.ndarray, t: np.ndarray) -> tuple[float, Mapping[str, np.ndarray]]:
    """Loss and gradient by backpropagation: one forward (train mode) and one backward."""
    return network.loss_and_gradient(x, t)


def _numerical(network, x: np.ndarray, t: np.ndarray) -> tuple[float, Mapping[str, np.ndarray]]:
    # The training-mode loss at the unperturbed parameters, then network.numerical_gradient.
    return network.loss(x, t, train=True), network.numerical_gradient(x, t)


#: The named gradient sources ``grad=`` accepts ("check" runs backprop and cross-checks it).
GRADIENTS: dict[str, GradFn] = {"backprop": backprop_gradient, "numerical": _numerical}


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    status : str
        ``"finished"`` or ``"interrupted"`` (Ctrl-C; a checkpoint was saved).
    step : int
        Updates applied so far (over all sessions of a resumed run).
    epoch : float
        ``step / steps_per_epoch``.
    loss : float
        The loss of the last mini-batch (NaN before the first step).
    train_acc, test_acc : float
        The last measured accuracies.
    wall_time_s : float
        Training wall time over all sessions of the run, evaluations included.
    run_dir : Path or None
        The run folder (None when nothing is saved).
    curves : Path or None
        The PNG of the curves, or None (not saved, or matplotlib missing).
    history : dict
        ``{"loss": [...], "eval": [...]}`` as written to ``history.json``.
    """

    status: str
    step: int
    epoch: float
    loss: float
    train_acc: float
    test_acc: float
    wall_time_s: float
    run_dir: Path | None
    curves: Path | None
    history: dict = field(repr=False)


# -- checking the arguments ------------------------------------------------------------------------

def _check_network(network, contract: tuple[str, ...]) -> None:
    for attr in contract:
        if not hasattr(network, attr):
            raise TypeError(f"network: expected an object with .{attr} (the network contract), "
                            f"got {type(network).__name__}")


def _check_data(xname: str, x, tname: str, t) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, np.ndarray) or not isinstance(t, np.ndarray):
        raise TypeError(f"{xname}, {tname}: expected NumPy arrays, "
                        f"got {type(x).__name__} and {type(t).__name__}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{xname}: expected a non-empty batch of shape (N, ...), got {x.shape}")
    if t.ndim < 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"{tname}: expected {x.shape[0]} labels (one per row of {xname}), "
                         f"got shape {t.shape}")
    return x, t


def _either(a: str, va, b: str, vb, default=None):
    """One value given under either of two names (ours and the book's)."""
    if va is not None and vb is not None:
        raise ValueError(f"{a}, {b}: give one of them, got {a}={va!r} and {b}={vb!r}")
    return default if va is None and vb is None else (va if va is not None else vb)


def _make_optimizer(optimizer, params: Mapping[str, Any] | None) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if params:
            raise ValueError("optimizer_params: only for an optimizer given by name, "
                             f"got an instance {optimizer!r} and {dict(params)}")
        return optimizer
    if isinstance(optimizer, str):
        return get_optimizer(optimizer, **dict(params or {}))
    raise TypeError(f"optimizer: expected a name or an Optimizer, got {type(optimizer).__name__}")


def _length(epochs, iters, train_size: int, batch_size: int, book: bool) -> tuple[float, int]:
    """``(steps_per_epoch, total_steps)``; the book's epoch is ``max(train_size / batch_size, 1)`` steps."""
    if epochs is not None and iters is not None:
        raise ValueError(f"epochs, iters: give one of them, got epochs={epochs!r} and iters={iters!r}")
    per_epoch = max(train_size / batch_size, 1) if book else math.ceil(train_size / batch_size)
    if iters is not None:
        return per_epoch, check_positive_int("iters", iters)
    epochs = 20 if epochs is None else epochs
    if book:
        return per_epoch, max(int(check_positive("epochs", epochs) * per_epoch), 1)
    return per_epoch, check_positive_int("epochs", epochs) * per_epoch


def _gradient_source(grad, network, book: bool) -> tuple[GradFn, str]:
    if callable(grad):
        return grad, getattr(grad, "__qualname__", repr(grad))
    if book:
        return _book_loop.gradient_source(grad, network), grad
    if grad not in (*GRADIENTS, "check"):
        raise ValueError(f"grad: expected one of {sorted([*GRADIENTS, 'check'])} or a callable, got {grad!r}")
    if grad in ("numerical", "check"):
        for attr in ("loss", "numerical_gradient"):
            if not hasattr(network, attr):
                raise TypeError(f"network: grad={grad!r} needs .{attr}, which {type(network).__name__} lacks")
    if grad == "check":
        check_float64_params("network", network.params)
    return GRADIENTS.get(grad, backprop_gradient), grad


def _seed(seed, book: bool) -> tuple[int | None, np.random.Generator | None]:
    """``(seed recorded, generator)``; None without a seed draws from NumPy's global generator."""
    if isinstance(seed, np.random.Generator):
        return None, seed
    if seed is None:
        if book:
            return None, None  # the book's np.random.choice, so that np.random.seed(n) repeats the run
        # A seed from the global generator: np.random.seed(n) repeats the run, and it is recorded.
        seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, a Generator or None, got {seed!r}")
    return int(seed), np.random.default_rng(int(seed))


def _check_subset(subset: int | None, train_size: int, test_size: int) -> None:
    if subset is not None and subset > min(train_size, test_size):
        raise ValueError(f"eval_subset: expected at most the smaller of the training set size {train_size} "
                         f"and the test set size {test_size}, got {subset}")


def _eval_indices(rng, size: int, subset: int | None) -> np.ndarray | None:
    if subset is None:
        return None
    return np.sort((np.random if rng is None else rng).permutation(size)[:subset])



def _config(tr) -> dict[str, Any]:
    """The configuration saved with a run (``history.json``, checkpoints)."""
    trainer = {
        "epochs": tr.total_steps / tr.steps_per_epoch, "iters": tr.total_steps, "batch_size": tr.batch_size,
        "steps_per_epoch": tr.steps_per_epoch, "sampling": tr.sampling, "grad": tr.grad,
        "check_every": tr.check_every, "check_tol": tr.check_tol, "check_abs_tol": tr.check_abs_tol,
        "check_h": tr.check_h, "eval_subset": tr.eval_subset, "train_size": tr.train_size,
        "test_size": len(tr.x_test), "seed": tr.seed, "optimizer": tr.optimizer.config(),
    }
    if tr.book_style:
        trainer["book_style"] = True
    return {"trainer": trainer, "network": repr(tr.network), **tr.extra_config}


def _accuracy(network, x: np.ndarray, t: np.ndarray, idx: np.ndarray | None, batch: int) -> float:
    """Accuracy over ``x[idx]`` (all of ``x`` when idx is None), ``batch`` samples per forward pass."""
    n = len(x) if idx is None else idx.size
    correct = 0
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        rows = slice(start, stop) if idx is None else idx[start:stop]
        correct += round(float(network.accuracy(x[rows], t[rows])) * (stop - start))
    return correct / n


class _StepGradient:
    """What :func:`scratchnet.gradcheck.gradient_check` sees: this step's backprop gradient, kept."""

    def __init__(self, network, grads: Mapping[str, np.ndarray]) -> None:
        self.params, self._network, self._grads = network.params, network, grads

    def gradient(self, x, t) -> Mapping[str, np.ndarray]:
        return self._grads

    def numerical_gradient(self, x, t, h: float):
        return self._network.numerical_gradient(x, t, h=h)

    def __repr__(self) -> str:
        return repr(self._network)


def _check_gradient(tr, xb, tb, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Backprop ``grads`` against the numerical gradient of the batch; the copies, or GradientCheckError."""
    # Copies: the network may reuse its gradient buffers while differentiating numerically.
    analytic = {k: np.array(g, copy=True) for k, g in grads.items()}
    rows = gradient_check(_StepGradient(tr.network, analytic), xb, tb, h=tr.check_h).rows.values()
    tr.last_check = GradCheckResult(f"step {tr.step + 1}, backprop against numerical (h={tr.check_h:g})",
                                    list(rows))
    try:
        tr.last_check.assert_close(tr.check_tol, abs_tol=tr.check_abs_tol)
    except AssertionError as e:
        raise GradientCheckError(f"step {tr.step + 1}: {e}") from None
    return analytic


def _evaluate(tr, elapsed: float) -> dict[str, float]:
    net, n = tr.network, tr.eval_batch_size
    record = {"step": tr.step, "epoch": tr.step / tr.steps_per_epoch,
              "train_acc": _accuracy(net, tr.x_train, tr.t_train, tr._train_eval_idx, n),
              "test_acc": _accuracy(net, tr.x_test, tr.t_test, tr._test_eval_idx, n),
              "elapsed_s": elapsed}
    tr.evals.append(record)
    return record


def _write_logs(tr, wall: float, status: str, plot: bool = False) -> Path | None:
    if not tr.save:
        return None
    curves = tr.run_dir / "curves.png" if plot else None
    if curves is not None and plot_history(tr.history, curves) is None:
        print(f"matplotlib is not installed, so no curves.png was drawn; {PLOT_HINT} to get it",
              file=sys.stderr)
        curves = None
    write_logs(tr.run_dir, tr.losses, tr.evals, {
        "status": status, "step": tr.step, "wall_time_s": wall, "config": tr.config,
        "seed": tr.seed, "versions": tr._versions or library_versions(),
        "curves": None if curves is None else curves.name})
    return curves


def _snapshot(tr) -> tuple:
    """What a step changes besides the parameters: the generators' states and the network's buffers."""
    net = tr.network
    if getattr(net, "_restorable", None) is False:  # a Sequential without buffers or generators
        return tr.rng.bit_generator.state, {}, {}
    buffers = {k: b.copy() for k, b in net.buffers().items()} if hasattr(net, "buffers") else {}
    gens = {k: g.bit_generator.state for k, g in checkpoint.network_generators(net).items()}
    return tr.rng.bit_generator.state, gens, buffers


def _diverged(tr, before: tuple, loss: float) -> TrainingDiverged:
    """Undo what the failed step changed (so the last good checkpoint is good); the error to raise."""
    rng, gens, buffers = before
    tr.rng.bit_generator.state = rng
    for k, g in checkpoint.network_generators(tr.network).items():
        g.bit_generator.state = gens[k]
    if buffers:
        live = tr.network.buffers()
        for k, saved in buffers.items():
            np.copyto(live[k], saved)
    return TrainingDiverged(
        f"step {tr.step + 1}: the loss is {loss}; stopped before applying this step's update "
        f"(the parameters and buffers are those after step {tr.step}). Try a smaller learning rate.")

def _finish(tr, status: str, wall: float) -> tuple[str, Path | None]:
    """The final checkpoint and logs; a Ctrl-C meanwhile waits for them and marks the run interrupted."""
    with StopOnCtrlC() as stop:
        if status == "interrupted":
            tr._save_checkpoint(wall)
        curves = _write_logs(tr, wall, status, plot=tr.plot)
    return ("interrupted" if stop.requested else status), curves

def _fresh_state(tr) -> None:
    """A trainer's state before its first step."""
    tr.step = tr.current_epoch = 0
    tr.losses: list[float] = []
    tr.evals: list[dict[str, float]] = []
    tr.final_test_acc: float | None = None
    tr._elapsed_before, tr._perm, tr._resumed = 0.0, None, False
    #: The last gradient check (``grad="check"``): a table of errors per parameter.
    tr.last_check: GradCheckResult | None = None
    tr._versions: dict[str, Any] | None = None
    tr._x_buf = np.empty((tr.batch_size, *tr.x_train.shape[1:]), dtype=tr.x_train.dtype)
    tr._t_buf = np.empty((tr.batch_size, *tr.t_train.shape[1:]), dtype=tr.t_train.dtype)
    tr.config = _config(tr)


class Trainer(_book_loop.BookNames):
    """Train a network on mini-batches with an optimiser; evaluate, log and checkpoint.

    Parameters (every one after ``t_test`` has a default; docs/training.md explains the choices)
    ----------
    network
        ``params``, ``loss_and_gradient(x, t)``, ``accuracy(x, t)``, ``state_dict``/``load_state_dict``
        (+ ``loss``, ``numerical_gradient`` for grad "numerical"/"check"). A network with only the
        book's ``params``, ``gradient``, ``loss``, ``accuracy`` runs the book's loop.
    x_train, t_train, x_test, t_test : ndarray, shapes (N, ...) and (N,) or (N, C), N >= 1
    epochs : int (float in the book's loop), default 20; or ``iters`` : int, steps.
    mini_batch_size, optimizer_param, evaluate_sample_num_per_epoch, verbose
        The book's arguments: any of them selects the book's loop (:mod:`scratchnet._book_loop`).
        ``mini_batch_size`` is ``batch_size``, ``optimizer_param`` is ``optimizer_params``.
    optimizer : str (case-insensitive) or Optimizer, default "sgd"; optimizer_params : mapping
    batch_size : int in [1, N], default 100
    sampling : "random" (with replacement, the book) or "shuffle" (a permutation per epoch)
    grad : "backprop", "numerical", "check" or callable ``(network, x, t) -> (loss, grads)``
        "check": backprop, compared every ``check_every`` (100) steps with
        ``network.numerical_gradient(x, t, h=check_h)``; :class:`GradientCheckError` unless each
        parameter's relative error <= ``check_tol`` or max abs difference <= ``check_abs_tol``
        (defaults 1e-6, 1e-8, h 1e-6; float64 parameters).
    eval_subset : int, optional: accuracy on a fixed random subset of this many train and test samples
    eval_batch_size : int, default 10 000 samples per forward pass when evaluating
    seed : int >= 0 or Generator, optional
        None: drawn from NumPy's global generator (``np.random.seed`` repeats the run), recorded.
    run_dir : path-like, optional (default ``runs/<timestamp>``); save : bool, optional
        Write logs, curves and checkpoints there (default True; False in the book's loop).
    plot : bool, default True: draw ``curves.png`` (with matplotlib)
    checkpoint_every : int, optional; progress : bool, optional (a ``tqdm.auto`` bar on stderr)
    callback : ``callback(step, loss)`` after every update; config : mapping saved with the run
    """

    def __init__(self, network, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray,
                 t_test: np.ndarray, epochs: float | None = None, mini_batch_size: int | None = None,
                 optimizer: str | Optimizer = "sgd", optimizer_param: Mapping[str, Any] | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, verbose: bool | None = None, *,
                 optimizer_params: Mapping[str, Any] | None = None, iters: int | None = None,
                 batch_size: int | None = None, sampling: str = "random", grad: str | GradFn = "backprop",
                 check_every: int = 100, check_tol: float | None = None, check_abs_tol: float | None = None,
                 check_h: float | None = None, eval_subset: int | None = None, eval_batch_size: int = 10_000,
                 seed: int | np.random.Generator | None = None, run_dir: str | os.PathLike | None = None,
                 save: bool | None = None, plot: bool = True, checkpoint_every: int | None = None,
                 progress: bool | None = None, callback: Callable[[int, float], None] | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        book = any(v is not None for v in (mini_batch_size, optimizer_param, evaluate_sample_num_per_epoch,
                                           verbose)) or not all(hasattr(network, a) for a in CONTRACT)
        _check_network(network, _book_loop.CONTRACT if book else CONTRACT)
        self.network, self.book_style = network, book
        self.x_train, self.t_train = _check_data("x_train", x_train, "t_train", t_train)
        self.x_test, self.t_test = _check_data("x_test", x_test, "t_test", t_test)
        self.train_size = len(self.x_train)
        self.optimizer = _make_optimizer(optimizer, _either("optimizer_params", optimizer_params,
                                                            "optimizer_param", optimizer_param))
        self.batch_size = check_positive_int(
            "batch_size", _either("batch_size", batch_size, "mini_batch_size", mini_batch_size, 100))
        if self.batch_size > self.train_size:
            raise ValueError(f"batch_size: expected at most the training set size {self.train_size}, "
                             f"got {self.batch_size}")
        self.steps_per_epoch, self.total_steps = _length(epochs, iters, self.train_size, self.batch_size,
                                                         book)
        if sampling not in ("random", "shuffle"):
            raise ValueError(f"sampling: expected 'random' or 'shuffle', got {sampling!r}")
        self.sampling = sampling
        self._grad_fn, self.grad = _gradient_source(grad, network, book)
        self.check_every = check_positive_int("check_every", check_every)
        self.check_tol, self.check_abs_tol, self.check_h = (
            check_positive(name, fallback if value is None else value) for name, value, fallback in
            (("check_tol", check_tol, 1e-6), ("check_abs_tol", check_abs_tol, 1e-8),
             ("check_h", check_h, 1e-6)))
        self.eval_batch_size = check_positive_int("eval_batch_size", eval_batch_size)
        self.checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every, allow_none=True)
        self.evaluate_sample_num_per_epoch = check_positive_int(
            "evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch, allow_none=True)
        self.eval_subset = check_positive_int("eval_subset", eval_subset, allow_none=True)
        _check_subset(self.eval_subset, self.train_size, len(self.x_test))
        self.save = (not book or run_dir is not None) if save is None else bool(save)
        self.run_dir = Path(run_dir) if self.save and run_dir is not None else None
        if self.run_dir is not None and self.run_dir.exists() and not self.run_dir.is_dir():
            raise ValueError(f"run_dir: expected a folder, got the existing file {self.run_dir}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
        self.seed, self.rng = _seed(seed, book)
        self._train_eval_idx = _eval_indices(self.rng, self.train_size, self.eval_subset)
        self._test_eval_idx = _eval_indices(self.rng, len(self.x_test), self.eval_subset)
        self.progress = (not book) if progress is None else bool(progress)
        self.verbose = book if verbose is None else bool(verbose)  # the book prints by default
        self.plot, self.callback = bool(plot), callback
        self.extra_config = dict(config or {})
        _fresh_state(self)

    @property
    def history(self) -> dict[str, Any]:
        """``{"loss": [loss of step 1, 2, ...], "eval": [{"step", "epoch", "train_acc", ...}, ...]}``."""
        return {"loss": list(self.losses), "eval": [dict(e) for e in self.evals]}

    def fit(self) -> TrainResult:
        """Train to the configured number of steps, evaluating, logging and checkpointing.

        Returns a :class:`TrainResult`, also on Ctrl-C (``status="interrupted"``: the step in progress
        finishes and a checkpoint is saved). Raises :class:`TrainingDiverged` on a NaN or infinite
        loss (that step's update is not applied) and :class:`GradientCheckError`; logs and a
        checkpoint are written first.
        """
        if self.save:
            self.run_dir = prepare_run_dir(self.run_dir, resumed=self._resumed)
        self._versions = library_versions()
        start = time.perf_counter()

        def elapsed() -> float:
            return self._elapsed_before + time.perf_counter() - start

        progress = Progress(self.progress, self.total_steps, self.step)
        try:
            with StopOnCtrlC() as stop:
                loop = _book_loop.run if self.book_style else Trainer._loop
                status = loop(self, stop, progress, elapsed)
        except (TrainingDiverged, GradientCheckError):
            self._save_checkpoint(elapsed())
            _write_logs(self, elapsed(), "failed")
            raise
        finally:
            progress.close()
        wall = elapsed()
        status, curves = _finish(self, status, wall)
        if status == "interrupted":
            where = f"; checkpoint saved in {self.run_dir}" if self.save and not self.book_style else ""
            print(f"stopped by Ctrl-C after step {self.step}{where}", file=sys.stderr)
        last = self.evals[-1] if self.evals else {"train_acc": math.nan, "test_acc": math.nan}
        test_acc = last["test_acc"] if self.final_test_acc is None else self.final_test_acc
        return TrainResult(status, self.step, self.step / self.steps_per_epoch,
                           self.losses[-1] if self.losses else math.nan, last["train_acc"], test_acc, wall,
                           self.run_dir, curves, self.history)

    def _loop(self, stop: StopOnCtrlC, progress: Progress, elapsed: Callable[[], float]) -> str:
        if not self.evals:
            progress.evaluated(_evaluate(self, elapsed()), None)
        net, optimizer, checking = self.network, self.optimizer, self.grad == "check"
        while self.step < self.total_steps:
            if stop.requested:
                return "interrupted"
            before = _snapshot(self)
            xb, tb = self._batch()
            loss, grads = self._grad_fn(net, xb, tb)
            loss = float(loss)
            if not math.isfinite(loss):
                raise _diverged(self, before, loss)
            if checking and self.step % self.check_every == 0:
                grads = _check_gradient(self, xb, tb, grads)
            optimizer.update(net.params, grads)
            self.step += 1
            self.losses.append(loss)
            progress.step(loss, self.evals[-1] if self.evals else None)
            if self.callback is not None:
                self.callback(self.step, loss)
            if self.step % self.steps_per_epoch == 0 or self.step == self.total_steps:
                progress.evaluated(_evaluate(self, elapsed()), loss)
                self._save_checkpoint(elapsed())
                if self.step < self.total_steps:  # the last logs are written by fit, with the curves
                    _write_logs(self, elapsed(), "running")
            elif self.checkpoint_every and self.step % self.checkpoint_every == 0:
                self._save_checkpoint(elapsed())
        return "finished"

    def _batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self.sampling == "random":
            idx = self.rng.integers(0, self.train_size, size=self.batch_size)
        else:
            pos = self.step % self.steps_per_epoch
            if pos == 0 or self._perm is None:
                self._perm = self.rng.permutation(self.train_size)
            idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        # Gather into reused buffers; "clip" keeps np.take from buffering (the indices are valid).
        xb = np.take(self.x_train, idx, axis=0, out=self._x_buf[:idx.size], mode="clip")
        tb = np.take(self.t_train, idx, axis=0, out=self._t_buf[:idx.size], mode="clip")
        return xb, tb

    def _save_checkpoint(self, elapsed: float) -> None:
        if self.save and not self.book_style:
            checkpoint.save_trainer(self, elapsed)

    def load_checkpoint(self, path: str | os.PathLike | None = None) -> int:
        """Restore a run saved by this trainer (see ``checkpoint.save_trainer``), to go on with fit.

        The trainer needs the run's batch size, sampling and data sizes; it may be longer. ``path``:
        a run folder or its ``checkpoint.npz`` (default ``run_dir``), which becomes the run folder.
        Returns the step the run resumes from.
        """
        if self.book_style:
            raise ValueError("load_checkpoint: a Trainer built the book's way writes no checkpoints")
        if path is None and self.run_dir is None:
            raise ValueError("path: expected a run folder (this trainer has no run_dir)")
        file = checkpoint.load_into_trainer(self, self.run_dir if path is None else path)
        if self.save:
            self.run_dir = file.parent
        self._resumed = True
        return self.step
