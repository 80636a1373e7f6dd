"""Training over random mini-batches (chapters 4 and 6): the Trainer, its logs and checkpoints.

A :class:`Trainer` draws a mini-batch, asks the network for the loss and the gradient (by
backprop, by numerical differentiation, or both to cross-check them), lets an optimiser update
the parameters in place, and every epoch measures train and test accuracy. As in the textbook,
a step draws ``batch_size`` indices at random *with replacement* and an epoch is
``ceil(train_size / batch_size)`` steps; ``sampling="shuffle"`` walks a fresh permutation each
epoch instead (the last batch of an epoch is then smaller when the sizes do not divide).

A run folder (``runs/<timestamp>/`` by default) receives:

- ``loss.csv`` (step, loss), ``accuracy.csv`` (step, epoch, train_acc, test_acc, elapsed_s) and
  ``history.json`` (both, plus the full configuration, seed, library versions and wall time);
- ``curves.png`` of loss and accuracy, when matplotlib is installed;
- ``checkpoint.npz`` (+ a readable ``checkpoint.json``) after every epoch, at the end and on
  Ctrl-C: parameters, optimiser state, the RNG state, the step and the history so far.

The .npz alone is authoritative (its metadata is stored inside it as a JSON string), and every file
is written to a temporary name in the folder and ``os.replace``d, so a crash never leaves a
half-written file. Resuming with :meth:`Trainer.load_checkpoint` continues bit for bit: two epochs
in one go and one epoch, resume, one epoch end with identical parameters and logs.

scratchnet needs NumPy alone: tqdm (the progress bar) and matplotlib (the curves) are used when
installed and skipped otherwise.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write
from .gradcheck import GradCheckResult, _require_float64, _row
from .optimizers import Optimizer, get_optimizer
from .util import blas_libraries

__all__ = [
    "Trainer",
    "TrainResult",
    "TrainingDiverged",
    "GradientCheckError",
    "GRADIENTS",
    "backprop_gradient",
    "numerical_gradient_of",
    "plot_history",
    "library_versions",
    "read_checkpoint_meta",
]

#: A gradient source: ``grad_fn(network, x, t) -> (loss, grads)`` for one mini-batch.
GradFn = Callable[[Any, np.ndarray, np.ndarray], "tuple[float, Mapping[str, np.ndarray]]"]

CHECKPOINT_FORMAT = 1
PLOT_HINT = "pip install -e '.[plot]'"


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the update of that step was not applied."""


class GradientCheckError(RuntimeError):
    """Backprop and numerical gradients disagreed beyond the tolerance (``grad="check"``)."""


def backprop_gradient(network, x: np.ndarray, t: np.ndarray) -> tuple[float, Mapping[str, np.ndarray]]:
    """Loss and gradient by backpropagation: one forward (train mode) and one backward."""
    return network.loss_and_gradient(x, t)


def numerical_gradient_of(network, x: np.ndarray, t: np.ndarray) -> tuple[float, Mapping[str, np.ndarray]]:
    """Loss and gradient by central differences of ``network.loss`` (the textbook's chapter 4).

    The loss is the training-mode ``loss(x, t, train=True)`` at the unperturbed parameters: what
    ``loss_and_gradient`` reports and ``numerical_gradient`` differentiates (a dropout layer draws
    its mask here and keeps it while the gradient is taken; batch norm updates its running
    statistics once, as a backprop step does).
    """
    loss = network.loss(x, t, train=True)
    return loss, network.numerical_gradient(x, t)


#: The named gradient sources ``grad=`` accepts ("check" runs backprop and cross-checks it).
GRADIENTS: dict[str, GradFn] = {"backprop": backprop_gradient, "numerical": numerical_gradient_of}


def library_versions() -> dict[str, Any]:
    """Versions of Python, NumPy, scratchnet and the optional libraries, and the BLAS in use."""
    from importlib import metadata

    from . import __version__

    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scratchnet": __version__,
    }
    for name in ("tqdm", "matplotlib", "threadpoolctl"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    blas = blas_libraries()
    if blas:
        versions["blas"] = blas
    return versions


def _json_default(obj: Any) -> Any:
    # NumPy scalars and paths in a caller's config: store their plain value.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"config: cannot store a {type(obj).__name__} in JSON: {obj!r}")


def _write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: json.dump(obj, f, indent=1, default=_json_default), binary=False)


def plot_history(history: Mapping[str, Any], path: str | os.PathLike) -> Path | None:
    """Draw the loss (per step) and accuracy (per epoch) curves into a PNG.

    Uses matplotlib's Agg canvas directly (no pyplot, no window, no global backend change).

    Parameters
    ----------
    history : mapping
        ``{"loss": [...], "eval": [{"epoch", "train_acc", "test_acc"}, ...]}`` as in ``history.json``.
    path : path-like
        The PNG to write (atomically).

    Returns
    -------
    Path or None
        ``path``, or None when matplotlib is not installed (``pip install -e '.[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    path = Path(path)
    loss = np.asarray(history["loss"], dtype=np.float64)
    evals = history["eval"]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    steps = np.arange(1, loss.size + 1)
    ax_loss.plot(steps, loss, lw=0.5, alpha=0.4, color="tab:blue", label="mini-batch loss")
    window = min(100, loss.size)
    if window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax_loss.plot(steps[window - 1:], smooth, color="tab:blue", label=f"mean of {window} steps")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("training loss")
    ax_loss.legend()
    epochs = [e["epoch"] for e in evals]
    ax_acc.plot(epochs, [e["train_acc"] for e in evals], "o-", label="train")
    ax_acc.plot(epochs, [e["test_acc"] for e in evals], "s--", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0.0, 1.0)
    ax_acc.set_title("accuracy")
    ax_acc.legend(loc="lower right")
    ax_acc.grid(alpha=0.3)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    return path


def _read_checkpoint(path: str | os.PathLike) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    file = path if path.suffix == ".npz" else path / "checkpoint.npz"
    if not file.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {file}")
    with np.load(file, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if "meta" not in arrays:
        raise ValueError(f"{file}: not a scratchnet checkpoint (no 'meta' entry)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{file}: checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    return file, meta, arrays


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint: step, configuration, RNG state, evaluations.

    Parameters
    ----------
    path : path-like
        A run folder or its ``checkpoint.npz``.
    """
    return _read_checkpoint(path)[1]


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
        The run folder (None when ``save=False``).
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


def _positive_int(name: str, value, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


class Trainer:
    """Train a network on mini-batches with an optimiser, log, evaluate and checkpoint.

    Parameters
    ----------
    network
        Any object with the network contract: ``params``, ``loss_and_gradient(x, t)``,
        ``accuracy(x, t)``, ``state_dict()`` / ``load_state_dict()`` (and ``loss`` and
        ``numerical_gradient`` for ``grad="numerical"`` or ``"check"``).
    x_train, t_train : ndarray, shapes (N, ...) and (N,) or (N, C)
        Training inputs and labels (integer labels or one-hot), N >= 1.
    x_test, t_test : ndarray
        Test inputs and labels, used for the test accuracy.
    optimizer : str or Optimizer
        A registered name (``"sgd"``, ``"adam"``, ...; see ``scratchnet.optimizers``) built with
        ``optimizer_params``, or an instance. Default ``"sgd"``.
    optimizer_params : mapping, optional
        Keyword arguments for a named optimiser, e.g. ``{"lr": 0.1}``.
    epochs, iters : int, optional
        The length of training, in epochs or in steps (give at most one; default 20 epochs as in
        the textbook's Trainer). A run whose steps do not fill the last epoch is evaluated once
        more at its end.
    batch_size : int
        Samples per step, in [1, N]. Default 100.
    sampling : {"random", "shuffle"}
        ``"random"``: indices drawn with replacement at every step (the textbook); ``"shuffle"``:
        one permutation per epoch.
    grad : {"backprop", "numerical", "check"} or callable
        Where the gradient comes from. ``"check"`` uses backprop and, every ``check_every`` steps
        (from the first), also ``network.numerical_gradient(x, t, h=check_h)`` of the same batch,
        and raises :class:`GradientCheckError` unless every parameter's relative error
        (``scratchnet.gradcheck.rel_error``) is at most ``check_tol`` or its largest absolute
        difference at most ``check_abs_tol``. A callable ``grad(network, x, t) -> (loss, grads)``
        may replace them.
    check_every : int
        Steps between checks for ``grad="check"``. Default 100.
    check_tol, check_abs_tol, check_h : float, optional
        Defaults 1e-6, 1e-8 and h = 1e-6; the check needs float64 parameters. The small step
        keeps a ReLU network's pre-activations from crossing the kink at 0 within +-h, which with
        the textbook's 1e-4 happens often enough in a batch of 100 to give relative errors of
        1e-2 on a correct backward. The absolute tolerance passes gradients that are 0 in theory
        (a bias before batch norm), where the numerical side is rounding noise.
    eval_subset : int, optional
        Measure accuracy on a fixed random subset of this many train and test samples (drawn
        once, from the trainer's generator, before the first step) instead of all of them.
    eval_batch_size : int
        Samples per forward pass when measuring accuracy (bounds memory). Default 10 000.
    seed : int or numpy.random.Generator, optional
        The source of every random choice of the trainer (batches, the evaluation subset). None
        draws fresh entropy, recorded in the configuration so the run can be repeated.
    run_dir : path-like, optional
        The run folder; default ``runs/<timestamp>`` under the current directory. A folder that
        already holds a checkpoint is refused unless :meth:`load_checkpoint` resumed from it.
    save : bool
        Write logs, curves and checkpoints. Default True.
    checkpoint_every : int, optional
        Also checkpoint every this many steps (always: after each epoch, at the end, on Ctrl-C).
    progress : bool
        Show a tqdm bar on stderr when tqdm is installed (else print a line per evaluation).
    callback : callable, optional
        ``callback(step, loss)`` after every applied update.
    config : mapping, optional
        Extra JSON-serialisable information saved with the run (e.g. a script's arguments).
    """

    def __init__(
        self,
        network,
        x_train: np.ndarray,
        t_train: np.ndarray,
        x_test: np.ndarray,
        t_test: np.ndarray,
        *,
        optimizer: str | Optimizer = "sgd",
        optimizer_params: Mapping[str, Any] | None = None,
        epochs: int | None = None,
        iters: int | None = None,
        batch_size: int = 100,
        sampling: str = "random",
        grad: str | GradFn = "backprop",
        check_every: int = 100,
        check_tol: float | None = None,
        check_abs_tol: float | None = None,
        check_h: float | None = None,
        eval_subset: int | None = None,
        eval_batch_size: int = 10_000,
        seed: int | np.random.Generator | None = None,
        run_dir: str | os.PathLike | None = None,
        save: bool = True,
        checkpoint_every: int | None = None,
        progress: bool = True,
        callback: Callable[[int, float], None] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        for attr in ("params", "loss_and_gradient", "accuracy", "state_dict", "load_state_dict"):
            if not hasattr(network, attr):
                raise TypeError(f"network: expected an object with .{attr} (the network contract), "
                                f"got {type(network).__name__}")
        self.network = network

        self.x_train, self.t_train = self._check_data("x_train", x_train, "t_train", t_train)
        self.x_test, self.t_test = self._check_data("x_test", x_test, "t_test", t_test)
        self.train_size = len(self.x_train)

        if isinstance(optimizer, Optimizer):
            if optimizer_params:
                raise ValueError("optimizer_params: only for an optimizer given by name, "
                                 f"got an instance {optimizer!r} and {dict(optimizer_params)}")
            self.optimizer = optimizer
        elif isinstance(optimizer, str):
            self.optimizer = get_optimizer(optimizer, **dict(optimizer_params or {}))
        else:
            raise TypeError(f"optimizer: expected a name or an Optimizer, got {type(optimizer).__name__}")

        self.batch_size = _positive_int("batch_size", batch_size)
        if self.batch_size > self.train_size:
            raise ValueError(f"batch_size: expected at most the training set size {self.train_size}, "
                             f"got {self.batch_size}")
        self.steps_per_epoch = math.ceil(self.train_size / self.batch_size)
        if epochs is not None and iters is not None:
            raise ValueError(f"epochs, iters: give one of them, got epochs={epochs!r} and iters={iters!r}")
        if iters is not None:
            self.total_steps = _positive_int("iters", iters)
        else:
            n_epochs = _positive_int("epochs", 20 if epochs is None else epochs)
            self.total_steps = n_epochs * self.steps_per_epoch
        if sampling not in ("random", "shuffle"):
            raise ValueError(f"sampling: expected 'random' or 'shuffle', got {sampling!r}")
        self.sampling = sampling

        if callable(grad):
            self._grad_fn, self.grad = grad, getattr(grad, "__qualname__", repr(grad))
        elif grad == "check":
            self._grad_fn, self.grad = backprop_gradient, grad
        elif grad in GRADIENTS:
            self._grad_fn, self.grad = GRADIENTS[grad], grad
        else:
            known = sorted([*GRADIENTS, "check"])
            raise ValueError(f"grad: expected one of {known} or a callable, got {grad!r}")
        if grad in ("numerical", "check"):
            for attr in ("loss", "numerical_gradient"):
                if not hasattr(network, attr):
                    raise TypeError(
                        f"network: grad={grad!r} needs .{attr}, which {type(network).__name__} lacks"
                    )
        self.check_every = _positive_int("check_every", check_every)
        if grad == "check":
            # float32 rounding swamps the differences a check looks for.
            _require_float64("network", network.params)
        checks = {}
        for name, value, fallback in zip(("check_tol", "check_abs_tol", "check_h"),
                                         (check_tol, check_abs_tol, check_h), (1e-6, 1e-8, 1e-6)):
            value = fallback if value is None else value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
            checks[name] = float(value)
        self.check_tol, self.check_abs_tol, self.check_h = checks.values()

        self.eval_batch_size = _positive_int("eval_batch_size", eval_batch_size)
        self.checkpoint_every = _positive_int("checkpoint_every", checkpoint_every, allow_none=True)

        if isinstance(seed, np.random.Generator):
            self.rng, self.seed = seed, None
        elif seed is None or (
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0
        ):
            self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
            self.rng = np.random.default_rng(self.seed)
        else:
            raise ValueError(f"seed: expected a non-negative integer, a Generator or None, got {seed!r}")

        self.eval_subset = _positive_int("eval_subset", eval_subset, allow_none=True)
        self._train_eval_idx: np.ndarray | None = None
        self._test_eval_idx: np.ndarray | None = None
        if self.eval_subset is not None:
            self._train_eval_idx = np.sort(self.rng.permutation(self.train_size)[: self.eval_subset])
            self._test_eval_idx = np.sort(self.rng.permutation(len(self.x_test))[: self.eval_subset])

        self.save = bool(save)
        self.run_dir: Path | None = None
        if self.save:
            self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = bool(progress)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
        self.callback = callback
        self.extra_config = dict(config or {})

        self.step = 0
        self.losses: list[float] = []
        self.evals: list[dict[str, float]] = []
        self._elapsed_before = 0.0
        self._perm: np.ndarray | None = None
        self._resumed = False
        self._stop_requested = False
        #: The last gradient check (``grad="check"``): a table of errors per parameter.
        self.last_check: GradCheckResult | None = None
        self._versions: dict[str, Any] | None = None
        self._x_buf = np.empty((self.batch_size, *self.x_train.shape[1:]), dtype=self.x_train.dtype)
        self._t_buf = np.empty((self.batch_size, *self.t_train.shape[1:]), dtype=self.t_train.dtype)
        self.config = self._make_config()

    # -- set-up -----------------------------------------------------------------------------

    @staticmethod
    def _check_data(xname: str, x, tname: str, t) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(x, np.ndarray) or not isinstance(t, np.ndarray):
            raise TypeError(
                f"{xname}, {tname}: expected NumPy arrays, got {type(x).__name__} and {type(t).__name__}"
            )
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{xname}: expected a non-empty batch of shape (N, ...), got {x.shape}")
        if t.ndim < 1 or t.shape[0] != x.shape[0]:
            raise ValueError(
                f"{tname}: expected {x.shape[0]} labels (one per row of {xname}), got shape {t.shape}"
            )
        return x, t

    def _make_config(self) -> dict[str, Any]:
        opt = {k: v for k, v in self.optimizer.state_dict().items() if "." not in k and k != "t"}
        trainer = {
            "epochs": self.total_steps / self.steps_per_epoch,
            "iters": self.total_steps,
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "sampling": self.sampling,
            "grad": self.grad,
            "check_every": self.check_every,
            "check_tol": self.check_tol,
            "check_abs_tol": self.check_abs_tol,
            "check_h": self.check_h,
            "eval_subset": self.eval_subset,
            "train_size": self.train_size,
            "test_size": len(self.x_test),
            "seed": self.seed,
            "optimizer": opt,
        }
        return {"trainer": trainer, "network": repr(self.network), **self.extra_config}

    def _prepare_run_dir(self) -> None:
        if not self.save:
            return
        if self.run_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path("runs") / stamp
            candidate, n = base, 1
            while True:
                try:
                    candidate.mkdir(parents=True)
                    break
                except FileExistsError:
                    n += 1
                    candidate = base.with_name(f"{stamp}-{n}")
            self.run_dir = candidate
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not self._resumed and (self.run_dir / "checkpoint.npz").exists():
                raise ValueError(
                    f"run_dir: {self.run_dir} already holds a run (checkpoint.npz); resume it with "
                    "load_checkpoint() or choose another folder"
                )

    # -- the training loop ------------------------------------------------------------------

    def _next_indices(self) -> np.ndarray:
        if self.sampling == "random":
            return self.rng.integers(0, self.train_size, size=self.batch_size)
        pos = self.step % self.steps_per_epoch
        if pos == 0 or self._perm is None:
            self._perm = self.rng.permutation(self.train_size)
        return self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]

    def _batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = idx.size
        # Gather into reused buffers; "clip" keeps np.take from buffering (the indices are valid).
        xb = np.take(self.x_train, idx, axis=0, out=self._x_buf[:n], mode="clip")
        tb = np.take(self.t_train, idx, axis=0, out=self._t_buf[:n], mode="clip")
        return xb, tb

    def _accuracy(self, x: np.ndarray, t: np.ndarray, idx: np.ndarray | None) -> float:
        n = len(x) if idx is None else idx.size
        correct = 0
        for start in range(0, n, self.eval_batch_size):
            stop = min(start + self.eval_batch_size, n)
            if idx is None:
                xc, tc = x[start:stop], t[start:stop]
            else:
                xc, tc = x[idx[start:stop]], t[idx[start:stop]]
            correct += round(float(self.network.accuracy(xc, tc)) * (stop - start))
        return correct / n

    def _evaluate(self, elapsed: float) -> dict[str, float]:
        record = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "train_acc": self._accuracy(self.x_train, self.t_train, self._train_eval_idx),
            "test_acc": self._accuracy(self.x_test, self.t_test, self._test_eval_idx),
            "elapsed_s": elapsed,
        }
        self.evals.append(record)
        return record

    def _check_gradient(
        self, xb: np.ndarray, tb: np.ndarray, grads: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        # Copies: the network may reuse its gradient buffers while differentiating numerically.
        analytic = {k: np.array(g, copy=True) for k, g in grads.items()}
        numerical = self.network.numerical_gradient(xb, tb, h=self.check_h)
        if numerical.keys() != analytic.keys():
            raise ValueError(f"network.numerical_gradient: expected the keys {sorted(analytic)}, "
                             f"got {sorted(numerical)}")
        result = GradCheckResult(f"step {self.step + 1}, backprop against numerical (h={self.check_h:g})",
                                 [_row(k, analytic[k], numerical[k]) for k in analytic])
        self.last_check = result
        try:
            result.assert_close(self.check_tol, abs_tol=self.check_abs_tol)
        except AssertionError as e:
            raise GradientCheckError(f"step {self.step + 1}: {e}") from None
        return analytic

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self._stop_requested:
                # A second Ctrl-C: stop at once, the way Python normally does.
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            # Finish the current step so parameters and optimiser state stay consistent.
            self._stop_requested = True

        signal.signal(signal.SIGINT, handler)
        return previous

    def fit(self) -> TrainResult:
        """Train until the configured number of steps, then evaluate, log and checkpoint.

        Returns
        -------
        TrainResult
            Also on Ctrl-C (``status="interrupted"``): the step in progress finishes, a checkpoint
            is saved and the method returns.

        Raises
        ------
        TrainingDiverged
            When a loss is NaN or infinite; that step's update is not applied, and the logs and a
            checkpoint of the last good step are written.
        GradientCheckError
            With ``grad="check"``, when the two gradients disagree; logs are written.
        """
        self._prepare_run_dir()
        self._versions = library_versions()
        self._stop_requested = False
        start = time.perf_counter()

        def elapsed() -> float:
            return self._elapsed_before + time.perf_counter() - start

        bar = self._make_bar()
        previous_handler = self._install_sigint()
        status = "finished"
        try:
            if not self.evals:
                self._report(bar, self._evaluate(elapsed()))
            net, optimizer, checking = self.network, self.optimizer, self.grad == "check"
            while self.step < self.total_steps:
                if self._stop_requested:
                    status = "interrupted"
                    break
                xb, tb = self._batch(self._next_indices())
                loss, grads = self._grad_fn(net, xb, tb)
                loss = float(loss)
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"step {self.step + 1}: the loss is {loss}; stopped before applying this step's "
                        f"update (the parameters are those after step {self.step}). "
                        "Try a smaller learning rate."
                    )
                if checking and self.step % self.check_every == 0:
                    grads = self._check_gradient(xb, tb, grads)
                optimizer.update(net.params, grads)
                self.step += 1
                self.losses.append(loss)
                if bar is not None:
                    bar.update(1)
                    if bar.n == bar.total or time.monotonic() - self._bar_last > 0.25:
                        self._set_postfix(bar, loss)
                if self.callback is not None:
                    self.callback(self.step, loss)
                at_epoch_end = self.step % self.steps_per_epoch == 0
                if at_epoch_end or self.step == self.total_steps:
                    self._report(bar, self._evaluate(elapsed()))
                    self._save_checkpoint(elapsed())
                    if self.step < self.total_steps:  # the last logs are written below, with the curves
                        self._write_logs(elapsed(), "running")
                elif self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self._save_checkpoint(elapsed())
        except (TrainingDiverged, GradientCheckError):
            self._save_checkpoint(elapsed())
            self._write_logs(elapsed(), "failed")
            raise
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            if bar is not None:
                bar.close()
        wall = elapsed()
        if status == "interrupted":
            self._save_checkpoint(wall)
        curves = self._write_logs(wall, status, plot=True)
        if status == "interrupted":
            where = f"; checkpoint saved in {self.run_dir}" if self.save else ""
            print(f"stopped by Ctrl-C after step {self.step}{where}", file=sys.stderr)
        last = self.evals[-1]
        return TrainResult(
            status=status,
            step=self.step,
            epoch=self.step / self.steps_per_epoch,
            loss=self.losses[-1] if self.losses else math.nan,
            train_acc=last["train_acc"],
            test_acc=last["test_acc"],
            wall_time_s=wall,
            run_dir=self.run_dir,
            curves=curves,
            history=self.history,
        )

    # -- progress ---------------------------------------------------------------------------

    def _make_bar(self):
        self._bar_last = 0.0
        if not self.progress:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=self.total_steps, initial=self.step, file=sys.stderr, unit="step",
                    dynamic_ncols=True, leave=True)

    def _set_postfix(self, bar, loss: float | None) -> None:
        post = {}
        if loss is not None:
            post["loss"] = f"{loss:.4f}"
        if self.evals:
            post["train"] = f"{self.evals[-1]['train_acc']:.4f}"
            post["test"] = f"{self.evals[-1]['test_acc']:.4f}"
        bar.set_postfix(post, refresh=True)
        self._bar_last = time.monotonic()

    def _report(self, bar, record: Mapping[str, float]) -> None:
        if bar is not None:
            self._set_postfix(bar, self.losses[-1] if self.losses else None)
        elif self.progress:
            print(f"step {record['step']} (epoch {record['epoch']:.2f}): "
                  f"train acc {record['train_acc']:.4f}, test acc {record['test_acc']:.4f}", file=sys.stderr)

    # -- logs -------------------------------------------------------------------------------

    @property
    def history(self) -> dict[str, Any]:
        """``{"loss": [loss of step 1, 2, ...], "eval": [{"step", "epoch", "train_acc", ...}, ...]}``."""
        return {"loss": list(self.losses), "eval": [dict(e) for e in self.evals]}

    def _write_logs(self, wall: float, status: str, plot: bool = False) -> Path | None:
        if not self.save:
            return None
        d = self.run_dir

        def loss_csv(f):
            w = csv.writer(f)
            w.writerow(["step", "loss"])
            w.writerows((i, repr(v)) for i, v in enumerate(self.losses, start=1))

        def acc_csv(f):
            w = csv.writer(f)
            cols = ["step", "epoch", "train_acc", "test_acc", "elapsed_s"]
            w.writerow(cols)
            w.writerows([repr(e[c]) for c in cols] for e in self.evals)

        atomic_write(d / "loss.csv", loss_csv, binary=False)
        atomic_write(d / "accuracy.csv", acc_csv, binary=False)
        curves = None
        if plot:
            curves = plot_history(self.history, d / "curves.png")
            if curves is None:
                print(f"matplotlib is not installed, so no curves.png was drawn; {PLOT_HINT} to get it",
                      file=sys.stderr)
        _write_json(d / "history.json", {
            "status": status,
            "step": self.step,
            "wall_time_s": wall,
            "config": self.config,
            "seed": self.seed,
            "versions": self._versions or library_versions(),
            "curves": None if curves is None else curves.name,
            **self.history,
        })
        return curves

    # -- checkpoints ------------------------------------------------------------------------

    def _save_checkpoint(self, elapsed: float) -> None:
        if not self.save:
            return
        meta = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "elapsed_s": elapsed,
            "rng": self.rng.bit_generator.state,
            "network_rngs": {k: g.bit_generator.state for k, g in self._network_generators().items()},
            "evals": self.evals,
            "config": self.config,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, default=_json_default))}
        for k, v in self.network.state_dict().items():
            arrays[f"params.{k}"] = np.asarray(v)
        for k, v in self.optimizer.state_dict().items():
            arrays[f"optimizer.{k}"] = np.asarray(v)
        arrays["history.loss"] = np.asarray(self.losses, dtype=np.float64)
        if self._perm is not None:
            arrays["sampler.perm"] = self._perm
        if self._train_eval_idx is not None:
            arrays["eval.train_idx"] = self._train_eval_idx
            arrays["eval.test_idx"] = self._test_eval_idx
        atomic_write(self.run_dir / "checkpoint.npz", lambda f: np.savez(f, **arrays), binary=True)
        # A readable copy of the metadata; resuming reads the .npz only.
        _write_json(self.run_dir / "checkpoint.json", meta)

    def _network_generators(self) -> dict[str, np.random.Generator]:
        """The generators the network's layers draw from (dropout masks), by layer index."""
        gens = {}
        for i, layer in enumerate(getattr(self.network, "layers", ())):
            rng = getattr(layer, "rng", None)
            if isinstance(rng, np.random.Generator):
                gens[str(i)] = rng
        return gens

    def load_checkpoint(self, path: str | os.PathLike | None = None) -> int:
        """Restore a run saved by this trainer, to continue it with :meth:`fit`.

        Restores the network's parameters (``load_state_dict``, strict), the optimiser state, the
        random generator, the step, the evaluation subset, the shuffling order and the history.
        The trainer must be built with the same batch size, sampling and training-set size; its
        length (``epochs``/``iters``) may be longer, to train on.

        Parameters
        ----------
        path : path-like, optional
            A run folder or its ``checkpoint.npz``; default this trainer's ``run_dir``. The run
            folder becomes this trainer's, and later logs and checkpoints go there.

        Returns
        -------
        int
            The step the run resumes from.
        """
        if path is None:
            if self.run_dir is None:
                raise ValueError("path: expected a run folder (this trainer has no run_dir)")
            path = self.run_dir
        file, meta, arrays = _read_checkpoint(path)
        saved, here = meta["config"]["trainer"], self.config["trainer"]
        differ = [k for k in ("batch_size", "sampling", "train_size", "test_size", "eval_subset")
                  if saved[k] != here[k]]
        if differ:
            raise ValueError(f"{file}: saved with " + ", ".join(f"{k}={saved[k]!r}" for k in differ)
                             + "; this trainer has " + ", ".join(f"{k}={here[k]!r}" for k in differ))
        if meta["step"] > self.total_steps:
            raise ValueError(f"{file}: the run is at step {meta['step']}, beyond this trainer's "
                             f"{self.total_steps} steps; ask for more epochs or iters")

        def group(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.network.load_state_dict(group("params."))
        self.optimizer.load_state_dict(group("optimizer."))
        self.config["trainer"]["optimizer"] = {k: v for k, v in self.optimizer.state_dict().items()
                                               if "." not in k and k != "t"}
        gens = self._network_generators()
        if sorted(gens) != sorted(meta["network_rngs"]):
            raise ValueError(f"{file}: saved generators of network layers {sorted(meta['network_rngs'])}, "
                             f"this network has them in layers {sorted(gens)}")
        # Assigning a state checks the bit generator's name and fields.
        self.rng.bit_generator.state = meta["rng"]
        for k, g in gens.items():
            g.bit_generator.state = meta["network_rngs"][k]
        self.step = int(meta["step"])
        self.seed = self.config["trainer"]["seed"] = saved["seed"]
        self._elapsed_before = float(meta["elapsed_s"])
        self.losses = [float(v) for v in arrays["history.loss"]]
        self.evals = [dict(e) for e in meta["evals"]]
        self._perm = arrays.get("sampler.perm")
        if self.eval_subset is not None:
            self._train_eval_idx = arrays["eval.train_idx"]
            self._test_eval_idx = arrays["eval.test_idx"]
        if self.save:
            self.run_dir = file.parent
        self._resumed = True
        return self.step
