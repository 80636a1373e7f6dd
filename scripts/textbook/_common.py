"""What every textbook experiment shares: flags, the output folder, checks against the book, files, figures.

An experiment module defines ``NAME``, ``run(ctx) -> Report`` and ``main = make_main(run, NAME, __doc__)``.
``run`` computes, saves its data (CSV/JSON) and figure (PNG) into ``ctx.out`` and returns a
:class:`Report` whose :class:`Check` rows compare the book's numbers with ours; ``main`` prints them and
exits 1 if any is outside its tolerance. ``scripts/reproduce.py`` calls ``run`` of every experiment.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.trainer import PLOT_HINT
from scratchnet.util import blas_threads, format_table

#: The default root of every experiment's output folder.
DEFAULT_ROOT = Path("runs") / "textbook"
#: Seeds of trained experiments: the full run checks every tolerance on each of them.
DEFAULT_SEEDS = (0, 1, 2)
#: Quick mode measures accuracies on this many random train and test images, not on all.
QUICK_EVAL_SUBSET = 2000

#: The tolerance table. Printed numbers of deterministic computations must match to the digits the
#: book prints; trained numbers must hold on every seed, not on one lucky one.
TOLERANCES = {
    # |ours - book| <= half a unit of the last digit the book prints
    "printed": 0.5,
    # the chapter 4 and 5 accuracies, on every seed
    "accuracy": 0.005,
    # chapter 6 optimiser and initialisation losses (mean of the last 100): within this factor of the book
    "loss_factor": 2.0,
    # chapter 5 gradient check: the mean absolute difference of every parameter
    "gradcheck_mean_abs": 1e-6,
}


@dataclass
class Check:
    """One comparison with the book: the quantity, the book's number, ours, and whether it holds."""

    experiment: str
    quantity: str
    book: str
    ours: str
    ok: bool
    tolerance: str = ""


@dataclass
class Report:
    """What an experiment returns: its checks, the files it wrote and its headline numbers."""

    name: str
    checks: list[Check] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def check(self, quantity: str, book: Any, ours: Any, ok: bool, tolerance: str = "") -> bool:
        """Append a check and return ``ok`` (so a script can react to it)."""
        self.checks.append(Check(self.name, quantity, _fmt(book), _fmt(ours), bool(ok), tolerance))
        return bool(ok)

    def check_printed(self, quantity: str, book: Sequence[str] | str, ours) -> bool:
        """Ours rounds to the book's printed numbers, given as printed (``"0.31682708"``, ``"-6.11e-10"``).

        Each element must lie within half a unit of the last digit the book prints.
        """
        b = [book] if isinstance(book, str) else list(book)
        o = np.atleast_1d(np.asarray(ours, dtype=np.float64)).ravel()
        ok = len(b) == o.size and all(abs(float(p) - v) <= TOLERANCES["printed"] * _last_unit(p) * (1 + 1e-9)
                                      for p, v in zip(b, o))
        shown = [_like(p, v) for p, v in zip(b, o)]
        return self.check(quantity, b if len(b) > 1 else b[0], shown if len(shown) > 1 else shown[0], ok,
                          "to the printed digits")

    def check_exact(self, quantity: str, book: Any, ours: Any) -> bool:
        """Ours equals the book's number exactly (repr of floats compared)."""
        return self.check(quantity, book, ours, ours == book, "exact")

    def check_seeds(self, quantity: str, book: float, values: Sequence[float], lo: float, hi: float,
                    tolerance: str) -> bool:
        """Every seed's value lies in [lo, hi]; shows the mean, min and max over the seeds."""
        v = np.asarray(values, dtype=np.float64)
        def num(x: float) -> str:
            return str(int(x)) if float(x).is_integer() and abs(x) < 1e6 else f"{x:.4f}"
        ours = num(v.mean())
        if v.size > 1:
            ours += f" [{num(v.min())}, {num(v.max())}] n={v.size}"
        return self.check(quantity, book, ours, bool(np.all((v >= lo) & (v <= hi))), tolerance)

    def add_file(self, path: Path | None) -> None:
        if path is not None:
            self.files.append(str(path))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _last_unit(printed: str) -> float:
    """The value of one unit in the last printed digit: "0.3168" -> 1e-4, "-2.58983747e13" -> 1e5."""
    mantissa, _, exponent = printed.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _like(printed: str, value: float) -> str:
    """``value`` written with one digit more than the book's ``printed`` number, in its notation."""
    mantissa, _, exponent = printed.lower().partition("e")
    decimals = len(mantissa.partition(".")[2]) + 1
    return f"{value:.{decimals}e}" if exponent else f"{value:.{decimals}f}"


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


@dataclass
class Context:
    """How to run: reduced or full, the seeds, where to write, whether to show progress."""

    out: Path
    quick: bool = False
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    progress: bool = False
    blas_threads: int | None = 1
    figures: bool = True

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def figure(self, name: str, draw: Callable[[Any], None], figsize=(8, 5)) -> Path | None:
        """Draw ``name`` (a PNG in ``out``) with :func:`figure`; None when figures are off or impossible."""
        return figure(self.out / name, draw, figsize) if self.figures else None

    def curves(self, name: str, history: dict) -> Path | None:
        """The Trainer's loss and accuracy curves of ``history`` as the PNG ``name`` in ``out``."""
        from scratchnet.trainer import plot_history

        return plot_history(history, self.out / name) if self.figures else None


# ------------------------------------------------------------------------------ files
def _atomic(path: Path, write: Callable[[Any], None], binary: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text = {} if binary else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, "wb" if binary else "w", **text) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (NumPy scalars and arrays as plain values), atomically."""
    def default(o):
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        raise TypeError(f"cannot store {type(o).__name__} in JSON")
    return _atomic(path, lambda f: json.dump(obj, f, indent=1, default=default), binary=False)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8), atomically."""
    return _atomic(path, lambda f: f.write(text), binary=False)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV with a header row, atomically."""
    def write(f: io.TextIOBase) -> None:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return _atomic(path, write, binary=False)


def figure(path: Path, draw: Callable[[Any], None], figsize=(8, 5)) -> Path | None:
    """Draw with ``draw(fig)`` on a matplotlib Agg figure and save it as PNG; None without matplotlib.

    Uses the Figure/Agg canvas directly: no pyplot, no window, no global backend change.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    return _atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------ data
def load_mnist_arrays(**kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x_train, t_train, x_test, t_test`` from ``dataset.mnist.load_mnist`` (normalised, flat, labels)."""
    from dataset.mnist import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True, one_hot_label=False,
                                                      **kwargs)
    return x_train, t_train, x_test, t_test


def mean_last(losses: Sequence[float], n: int = 100) -> float:
    """The mean of the last ``n`` losses (the book's measure in chapter 6)."""
    return float(np.mean(np.asarray(losses, dtype=np.float64)[-n:]))


# ------------------------------------------------------------------------------ output
def print_checks(checks: Sequence[Check], file=None) -> None:
    """A table: experiment, quantity, the book's number, ours, tolerance, within it or not."""

    rows = [("experiment", "quantity", "book", "ours", "tolerance", "ok")]
    rows += [(c.experiment, c.quantity, c.book, c.ours, c.tolerance, "yes" if c.ok else "NO") for c in checks]
    print("\n".join(format_table(rows)), file=file or sys.stdout)


def finish(report: Report, ctx: Context) -> Report:
    """Save ``checks.json`` into the output folder (with the run's settings) and return the report."""
    report.files.append(str(write_json(ctx.out / "checks.json", {
        "experiment": report.name, "quick": ctx.quick, "seeds": list(ctx.seeds),
        "wall_s": report.wall_s, "numbers": report.numbers, "checks": [asdict(c) for c in report.checks],
    })))
    return report


def run_timed(run: Callable[[Context], Report], ctx: Context) -> Report:
    """Call ``run(ctx)`` (BLAS held to ``ctx.blas_threads``), record its wall time, write its checks.json."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with blas_threads(ctx.blas_threads):
        report = run(ctx)
    report.wall_s = round(time.perf_counter() - start, 2)
    return finish(report, ctx)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--quick, --seeds, --progress, --no-figures, --blas-threads: for each experiment and reproduce.py."""
    p.add_argument("--quick", action="store_true", help="a reduced version (seconds, for CI)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help=f"seeds of trained experiments (default {' '.join(map(str, DEFAULT_SEEDS))}; "
                        "--quick: the first one)")
    p.add_argument("--progress", action="store_true", help="progress bars of training on stderr")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the PNG figures")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (default 1, fastest for these small matrices on a shared machine; "
                        "0: leave BLAS alone)")


def seeds_for(args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds:
        return tuple(args.seeds)
    return DEFAULT_SEEDS[:1] if args.quick else DEFAULT_SEEDS


def make_main(run: Callable[[Context], Report], name: str, doc: str | None):
    """Build ``main(argv=None) -> int`` for an experiment: parse flags, run, print numbers and checks."""
    def main(argv: Sequence[str] | None = None) -> int:
        p = argparse.ArgumentParser(description=(doc or name).splitlines()[0])
        p.add_argument("--out", type=Path, default=None,
                       help=f"output folder (default {DEFAULT_ROOT / name})")
        add_run_flags(p)
        args = p.parse_args(argv)
        ctx = Context(out=args.out or DEFAULT_ROOT / name, quick=args.quick, seeds=seeds_for(args),
                      progress=args.progress, blas_threads=args.blas_threads or None, figures=args.figures)
        report = run_timed(run, ctx)
        for key, value in report.numbers.items():
            print(f"{key}: {_fmt(value) if not isinstance(value, dict) else json.dumps(value)}")
        print()
        print_checks(report.checks)
        written = sorted(p.name for p in ctx.out.iterdir() if not p.name.startswith("."))
        print(f"\n{report.wall_s:.1f} s; wrote into {ctx.out}: {', '.join(written)}")
        if ctx.figures and not has_matplotlib():
            print(f"no figure: matplotlib is not installed ({PLOT_HINT})")
        return 0 if report.ok else 1
    return main


# ------------------------------------------------------------------------------ training
def train(ctx: Context, network, data: Sequence[np.ndarray], tag: str | None = None, *,
          allow_divergence: bool = False, **trainer_kwargs):
    """Train ``network`` with :class:`scratchnet.Trainer` on ``data = (x_train, t_train, x_test, t_test)``.

    Nothing is checkpointed (an experiment is rerun, not resumed). In quick mode accuracies are
    measured on ``QUICK_EVAL_SUBSET`` random train and test images. With ``tag``, the loss per step and
    the accuracies per epoch go to ``<tag>_loss.csv`` and ``<tag>_accuracy.csv`` in ``ctx.out``.
    With ``allow_divergence``, a loss that becomes NaN or infinite ends training early instead of
    raising: the result has ``status="diverged"`` and the history up to the last good step.

    Returns
    -------
    scratchnet.trainer.TrainResult
    """
    from scratchnet import Trainer
    from scratchnet.trainer import TrainingDiverged, TrainResult

    if ctx.quick and min(len(data[0]), len(data[2])) > QUICK_EVAL_SUBSET:
        trainer_kwargs.setdefault("eval_subset", QUICK_EVAL_SUBSET)
    trainer = Trainer(network, *data, save=False, progress=ctx.progress, **trainer_kwargs)
    try:
        result = trainer.fit()
    except TrainingDiverged:
        if not allow_divergence:
            raise
        last = trainer.history["eval"][-1]
        result = TrainResult("diverged", trainer.step, trainer.step / trainer.steps_per_epoch, math.nan,
                             last["train_acc"], last["test_acc"], math.nan, None, None, trainer.history)
    if tag is not None:
        write_csv(ctx.out / f"{tag}_loss.csv", ["step", "loss"], enumerate(result.history["loss"], 1))
        keys = ["step", "epoch", "train_acc", "test_acc"]
        write_csv(ctx.out / f"{tag}_accuracy.csv", keys,
                  ([e[k] for k in keys] for e in result.history["eval"]))
    return result
