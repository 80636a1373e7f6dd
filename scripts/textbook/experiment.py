"""What every textbook experiment shares: flags, the output folder, checks against the book, tasks.

An experiment module defines ``NAME``, ``run(ctx) -> Report`` and ``main = make_main(run, NAME, __doc__)``.
``run`` computes, saves its data (CSV/JSON) and figure (PNG) into ``ctx.out`` and returns a
:class:`Report` whose :class:`Check` rows compare the book's numbers with ours; ``main`` prints them and
exits 1 if any is outside its tolerance. ``scripts/reproduce.py`` calls ``run`` of every experiment.

An experiment made of independent runs (one per seed, one per trial) also defines ``tasks(ctx)`` (their
keys), ``task(ctx, key)`` (one run, returning plain data) and ``summarize(ctx, results)`` (the report
from ``{key: result}``); then ``run = make_run(tasks, task, summarize)``, and
:mod:`scratchnet_book.runner` can hand the tasks to Dask workers with the same results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.plot import PLOT_HINT, plot_history
from scratchnet.util import blas_threads, format_table
from scratchnet_book.outputs import figure, has_matplotlib, write_json

#: The default root of every experiment's output folder.
DEFAULT_ROOT = Path("runs") / "textbook"
#: Seeds of trained experiments: the full run checks every tolerance on each of them.
DEFAULT_SEEDS = (0, 1, 2)

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
        path = self.out / name
        return path if self.figures and plot_history(history, path) is not None else None


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


def make_run(tasks: Callable[[Context], Sequence[Hashable]], task: Callable[[Context, Hashable], Any],
             summarize: Callable[[Context, dict], Report]) -> Callable[[Context], Report]:
    """``run(ctx)`` of an experiment made of independent tasks: each task in turn, then the summary.

    ``scratchnet_book.runner`` calls the same ``task`` on Dask workers, so both give the same numbers.
    """
    def run(ctx: Context) -> Report:
        return summarize(ctx, {key: task(ctx, key) for key in tasks(ctx)})
    return run


def seed_tasks(ctx: Context) -> list[int]:
    """One task per seed: ``tasks`` of the experiments that train once per seed."""
    return list(ctx.seeds)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--quick, --seeds, --progress, --no-figures, --blas-threads, --workers, --scheduler: for each
    experiment and reproduce.py."""
    p.add_argument("--quick", action="store_true", help="a reduced version (seconds, for CI)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help=f"seeds of trained experiments (default {' '.join(map(str, DEFAULT_SEEDS))}; "
                        "--quick: the first one)")
    p.add_argument("--progress", action="store_true", help="progress bars of training on stderr")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the PNG figures")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (default 1, fastest for these small matrices on a shared machine; "
                        "0: leave BLAS alone)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=None, metavar="N",
                       help="run the tasks (one per experiment and seed) on a Dask LocalCluster of N "
                            "worker processes on 127.0.0.1 (pip install -e '.[cluster]')")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                       help="run the tasks on the existing Dask cluster of this scheduler")


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 1, got {n}")
    return n


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
        if args.workers or args.scheduler:
            from scratchnet_book.runner import ClusterUnavailable, run_experiments

            try:
                [report] = run_experiments([name], lambda _: ctx, args.workers, args.scheduler)
            except ClusterUnavailable as e:
                print(f"{p.prog}: {e}", file=sys.stderr)
                return 2
        else:
            report = run_timed(run, ctx)
        for key, value in report.numbers.items():
            print(f"{key}: {_fmt(value) if not isinstance(value, dict) else json.dumps(value)}")
        print()
        print_checks(report.checks)
        written = sorted(p.name for p in ctx.out.glob("*") if not p.name.startswith("."))
        print(f"\n{report.wall_s:.1f} s; wrote into {ctx.out}: {', '.join(written)}")
        if ctx.figures and not has_matplotlib():
            print(f"no figure: matplotlib is not installed ({PLOT_HINT})")
        return 0 if report.ok else 1
    return main


