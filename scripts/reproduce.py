"""Reproduce the textbook's experiments (chapters 3-6) and check their numbers against the book.

    python scripts/reproduce.py                  # everything, trained numbers on seeds 0 1 2
    python scripts/reproduce.py --quick          # reduced versions for CI (about a minute)
    python scripts/reproduce.py --only ch04 ch06_dropout --seeds 3 4 5

Each experiment is a script in scripts/textbook/ (runnable alone); this runs them one after the
other and prints one table: experiment, quantity, the book's number, ours, the tolerance and
whether ours is within it. Each experiment's numbers (CSV/JSON) and figure (PNG, with matplotlib)
go to ``--out``/<experiment>/, and the table to ``--out``/summary.md and summary.json.

Exit status: 0 when every check holds, 1 when any is outside its tolerance or an experiment failed,
2 for bad flags.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from textbook._common import (
    DEFAULT_ROOT,
    Check,
    Context,
    add_run_flags,
    has_matplotlib,
    print_checks,
    run_timed,
    seeds_for,
    write_json,
    write_text,
)

#: The experiments in the book's order (modules of the package ``textbook`` = scripts/textbook/).
EXPERIMENTS = (
    "ch03_forward",
    "ch03_mnist_inference",
    "ch04_loss_functions",
    "ch04_numerical_diff",
    "ch04_gradient_descent",
    "ch04_simplenet",
    "ch04_train",
    "ch05_gradient_check",
    "ch05_train_relu",
    "ch06_optimizer_paths",
    "ch06_optimizer_mnist",
    "ch06_weight_init",
    "ch06_activation_histograms",
    "ch06_batchnorm",
    "ch06_overfit_weight_decay",
    "ch06_dropout",
    "ch06_hyperparameter_search",
)


def select(only: Sequence[str] | None) -> list[str]:
    """The experiments named by ``only`` (full names or prefixes such as ``ch04``), in the book's order."""
    if not only:
        return list(EXPERIMENTS)
    unknown = [o for o in only if not any(name.startswith(o) for name in EXPERIMENTS)]
    if unknown:
        raise ValueError(f"--only: no experiment starts with {unknown}; "
                         f"the experiments are {', '.join(EXPERIMENTS)}")
    return [name for name in EXPERIMENTS if any(name.startswith(o) for o in only)]


def markdown(checks: Sequence[Check]) -> str:
    lines = ["| experiment | quantity | book | ours | tolerance | ok |", "|---|---|---|---|---|---|"]
    for c in checks:
        cells = [c.experiment, c.quantity, c.book, c.ours, c.tolerance, "yes" if c.ok else "**NO**"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments (names or prefixes)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"output root (default {DEFAULT_ROOT}, or {DEFAULT_ROOT}-quick with --quick)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    add_run_flags(p)
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(EXPERIMENTS))
        return 0
    try:
        names = select(args.only)
    except ValueError as e:
        p.error(str(e))
    root = args.out or (DEFAULT_ROOT.with_name(DEFAULT_ROOT.name + "-quick") if args.quick else DEFAULT_ROOT)
    seeds = seeds_for(args)
    mode = "quick" if args.quick else "full"
    print(f"{mode} run of {len(names)} experiments, seeds {' '.join(map(str, seeds))}, into {root}",
          file=sys.stderr, flush=True)

    checks: list[Check] = []
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"textbook.{name}")
        ctx = Context(out=root / name, quick=args.quick, seeds=seeds, progress=args.progress,
                      blas_threads=args.blas_threads or None, figures=args.figures)
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            report = run_timed(module.run, ctx)
        except Exception as e:  # one broken experiment must not hide the others' results
            traceback.print_exc()
            checks.append(Check(name, "runs to the end", "-", f"{type(e).__name__}: {e}", False))
        else:
            checks.extend(report.checks)
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"   {name}: {timings[name]:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - start

    failed = [c for c in checks if not c.ok]
    print_checks(checks)
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks within tolerance; {mode} run, seeds "
          f"{' '.join(map(str, seeds))}, {total:.0f} s; outputs in {root}")
    if args.figures and not has_matplotlib():
        print("no figures: matplotlib is not installed (pip install -e '.[plot]')")
    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "summary.md", markdown(checks) + "\n")
    write_json(root / "summary.json", {"mode": mode, "seeds": list(seeds), "wall_s": round(total, 1),
                                       "timings_s": timings, "checks": [asdict(c) for c in checks]})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
