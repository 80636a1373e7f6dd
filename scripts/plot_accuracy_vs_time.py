"""Plot accuracy against wall time for one or more training runs, and print it as a table.

    python scripts/plot_accuracy_vs_time.py runs/ch4-numerical runs/ch4-backprop --out curve.png

Each RUN_DIR is a folder written by ``scripts/train.py`` (its ``history.json``). The table (stdout)
lists every evaluation: step, wall time, train and test accuracy. The figure needs matplotlib
(``pip install -e '.[plot]'``); without it the table is still printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scratchnet.plot import PLOT_HINT, new_figure, save_png


def read_run(run_dir: Path) -> dict:
    """The history of a run folder; a clear error when it is not one."""
    path = run_dir / "history.json"
    if not path.is_file():
        raise SystemExit(f"{run_dir}: expected a run folder with history.json (from scripts/train.py)")
    return json.loads(path.read_text())


def label_of(history: dict, run_dir: Path) -> str:
    trainer = history["config"]["trainer"]
    return f"{run_dir.name} (grad {trainer['grad']})"


def plot(runs: list[tuple[str, dict]], out: Path) -> bool:
    """Write the figure; False when matplotlib is missing."""
    fig = new_figure((7, 4))
    if fig is None:
        return False
    ax = fig.subplots()
    for label, history in runs:
        minutes = [e["elapsed_s"] / 60 for e in history["eval"]]
        ax.plot(minutes, [e["test_acc"] for e in history["eval"]], "o-", ms=3, label=f"{label}: test")
        ax.plot(minutes, [e["train_acc"] for e in history["eval"]], ":", label=f"{label}: train")
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(fig, out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, default=Path("accuracy_vs_time.png"), help="the PNG to write")
    args = parser.parse_args(argv)
    runs = [(label_of(h, d), h) for d, h in ((d, read_run(d)) for d in args.runs)]
    for label, history in runs:
        print(f"{label}: {history['status']}, {history['step']} steps, {history['wall_time_s']:.1f} s")
        print("| step | wall time (s) | train acc | test acc |")
        print("|---:|---:|---:|---:|")
        for e in history["eval"]:
            print(f"| {e['step']} | {e['elapsed_s']:.1f} | {e['train_acc']:.4f} | {e['test_acc']:.4f} |")
    if plot(runs, args.out):
        print(f"figure: {args.out}")
    else:
        print(f"no figure: matplotlib is not installed ({PLOT_HINT})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
