"""Run the training issue's three full MNIST runs with scripts/train.py and print a table.

1. the textbook's chapter 4 run (the defaults: TwoLayerNet 784-50-10 sigmoid, SGD lr 0.1, batch 100,
   10 000 steps), target test accuracy >= 0.94 (the book: 0.945);
2. the same with ReLU (chapter 5's network), target >= 0.965 (the book: 0.972);
3. 784-100-10 ReLU with Adam (lr 0.001), target >= 0.97.

All three use ``--grad backprop``. Each run is a separate ``python scripts/train.py`` process whose
command is printed in the table; progress bars go to stderr, the table to stdout. Exit status 0
when every run met its target.

    python scripts/train_full_runs.py [--out-root runs/full] [--seed 0] [--only relu adam]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

TRAIN = Path(__file__).resolve().with_name("train.py")

#: name -> (flags for train.py, the test accuracy to reach)
RUNS: dict[str, tuple[list[str], float]] = {
    "ch4-sigmoid": ([], 0.94),
    "ch5-relu": (["--activation", "relu"], 0.965),
    "adam-100": (["--hidden", "100", "--activation", "relu", "--optimizer", "adam"], 0.97),
}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-root", type=Path, default=None,
                   help="folder for the three run folders (default runs/full-<timestamp>)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--only", nargs="+", choices=sorted(RUNS), default=None, help="run only these")
    args = p.parse_args(argv)
    root = args.out_root or Path("runs") / f"full-{datetime.now():%Y%m%d-%H%M%S}"

    rows = []
    for name, (flags, target) in RUNS.items():
        if args.only and name not in args.only:
            continue
        out = root / name
        cmd = [sys.executable, str(TRAIN), "--grad", "backprop", "--seed", str(args.seed), *flags,
               "--out", str(out)]
        shown = "python scripts/train.py " + " ".join(shlex.quote(c) for c in cmd[2:-2])
        print(f"== {name}: {shown}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        sys.stderr.write(proc.stdout)
        if proc.returncode != 0:
            rows.append((name, shown, "-", "-", "-", target, f"failed (exit {proc.returncode})", wall))
            continue
        hist = json.loads((out / "history.json").read_text())
        last = hist["eval"][-1]
        met = "yes" if last["test_acc"] >= target else "NO"
        rows.append((name, shown, str(hist["step"]), f"{last['train_acc']:.4f}", f"{last['test_acc']:.4f}",
                     target, met, wall))

    print("| run | command | steps | train acc | test acc | target | met | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, shown, steps, train_acc, test_acc, target, met, wall in rows:
        print(f"| {name} | `{shown}` | {steps} | {train_acc} | {test_acc} | >= {target} | {met} "
              f"| {wall:.1f} |")
    print(f"\nrun folders (history, curves.png) under {root}")
    return 0 if all(r[6] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
