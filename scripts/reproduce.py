"""Reproduce the textbook's experiments (chapters 3-8) and check their numbers against the book.

    python scripts/reproduce.py                  # everything, trained numbers on seeds 0 1 2
    python scripts/reproduce.py --quick          # reduced versions for CI (about a minute)
    python scripts/reproduce.py --only ch04 ch06_dropout --seeds 3 4 5
    python scripts/reproduce.py --workers 2      # on a Dask LocalCluster of 2 worker processes
    python scripts/reproduce.py --scheduler tcp://HOST:8786   # on an existing Dask cluster

Each experiment is a script in scripts/textbook/ (runnable alone, and the module
``scratchnet_book.<name>``); this runs them one after the other, or as tasks (one per experiment and
seed) on Dask workers with the same results, and prints one table: experiment, quantity, the book's
number, ours, the tolerance and whether ours is within it. Each experiment's numbers (CSV/JSON) and
figure (PNG, with matplotlib) go to ``--out``/<experiment>/, and the table to ``--out``/summary.md
and summary.json.

Exit status: 0 when every check holds, 1 when any is outside its tolerance or an experiment failed,
2 for bad flags.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from scratchnet_book import EXPERIMENTS
from scratchnet_book.experiment import DEFAULT_ROOT, Check, Context, add_run_flags, print_checks, seeds_for
from scratchnet_book.outputs import has_matplotlib, write_json, write_text
from scratchnet_book.runner import ClusterUnavailable, run_experiments


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
    where = (f" on {args.workers} Dask workers" if args.workers else
             f" on the Dask cluster at {args.scheduler}" if args.scheduler else "")
    print(f"{mode} run of {len(names)} experiments{where}, seeds {' '.join(map(str, seeds))}, into {root}",
          file=sys.stderr, flush=True)

    def ctx_for(name: str) -> Context:
        return Context(out=root / name, quick=args.quick, seeds=seeds, progress=args.progress,
                       blas_threads=args.blas_threads or None, figures=args.figures)

    start = time.perf_counter()
    try:
        reports = run_experiments(names, ctx_for, args.workers, args.scheduler)
    except ClusterUnavailable as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 2
    total = time.perf_counter() - start
    checks = [c for r in reports for c in r.checks]
    timings = {r.name: round(r.wall_s, 1) for r in reports}

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
