"""Chapter 7: the 30 first-layer filters of SimpleConvNet, before and after training.

    python scripts/textbook/ch07_filters.py [--out runs/textbook/ch07_filters]

The book shows the random initial filters as noise and the trained ones as smooth, oriented edge
and blob detectors. We measure it: the neighbour correlation of a filter, the correlation of each
weight with its right-hand and lower neighbours over the filter's 40 such pairs, is about 0 for
weights drawn independently, and high when the weights vary smoothly across the filter. The mean
over the 30 filters must exceed 0.3 after training and stay below it before (the initial filters of
the very run that trained the shipped weights, and of ten other seeds).

"After" is the shipped weights (weights/ch07_simple_convnet.npz, from chapter 7's training), so this
runs in seconds; ``--quick`` is the same.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv
from scratchnet_book.weights import load_weights, make_network

NAME = "ch07_filters"
WEIGHTS = "ch07_simple_convnet"
#: The mean neighbour correlation that tells smooth filters from independent random weights.
SMOOTH = 0.3
#: Other seeds whose random initial filters must fail the threshold too.
RANDOM_SEEDS = range(100, 110)


def neighbour_correlation(W: np.ndarray) -> np.ndarray:
    """Per filter of ``W`` (FN, C, FH, FW): the Pearson correlation of horizontally and vertically
    adjacent weights (within each channel), pooled; shape (FN,)."""
    W = np.asarray(W, dtype=np.float64)
    left, right = W[..., :, :-1].reshape(len(W), -1), W[..., :, 1:].reshape(len(W), -1)
    up, down = W[..., :-1, :].reshape(len(W), -1), W[..., 1:, :].reshape(len(W), -1)
    a, b = np.concatenate([left, up], axis=1), np.concatenate([right, down], axis=1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def initial_and_trained() -> tuple[np.ndarray, np.ndarray, dict]:
    """The first-layer filters before (the shipped run's initial weights) and after training, and the JSON."""
    net, meta = load_weights(WEIGHTS)
    before = make_network(WEIGHTS, meta["seed"]).params["W1"]
    return before, net.params["W1"], meta


def draw_filters(fig, before: np.ndarray, after: np.ndarray, columns: int = 10) -> None:
    """Two blocks of ``len(W) / columns`` rows: the filters before training above, after below."""
    rows = -(-len(after) // columns)
    axes = fig.subplots(2 * rows, columns)
    for block, (title, W) in enumerate((("before training", before), ("after training", after))):
        for i in range(rows * columns):
            ax = axes[block * rows + i // columns, i % columns]
            ax.set_axis_off()
            if i < len(W):
                ax.imshow(W[i, 0], cmap="gray_r", interpolation="nearest")
        axes[block * rows, 0].set_title(title, loc="left", fontsize=10)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    before, after, meta = initial_and_trained()
    r_before, r_after = neighbour_correlation(before), neighbour_correlation(after)
    r_others = [float(neighbour_correlation(make_network(WEIGHTS, s).params["W1"]).mean())
                for s in RANDOM_SEEDS]
    report.numbers = {"mean neighbour correlation before": round(float(r_before.mean()), 4),
                      "mean neighbour correlation after": round(float(r_after.mean()), 4),
                      "trained filters above the threshold": int((r_after > SMOOTH).sum()),
                      "weights": f"{WEIGHTS} (test accuracy {meta['test_accuracy']})"}
    report.check("trained filters are smooth: mean neighbour correlation", "smooth (the book's figure)",
                 f"{r_after.mean():.3f}", r_after.mean() > SMOOTH, f"> {SMOOTH}")
    report.check("initial random filters are not: mean neighbour correlation", "noise",
                 f"{r_before.mean():.3f}", r_before.mean() <= SMOOTH, f"<= {SMOOTH}")
    report.check(f"random filters of {len(r_others)} other seeds: highest mean", "noise",
                 f"{max(r_others):.3f}", max(r_others) <= SMOOTH, f"<= {SMOOTH}")
    report.add_file(write_csv(ctx.out / "filters.csv", ["filter", "correlation_before", "correlation_after"],
                              zip(range(len(after)), r_before.round(6), r_after.round(6))))
    report.add_file(ctx.figure("filters.png", lambda fig: draw_filters(fig, before, after), figsize=(8, 5.5)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
