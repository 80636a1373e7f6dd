"""Chapter 6: batch normalisation makes a deep network learn faster over a sweep of initial weight scales.

    python scripts/textbook/ch06_batchnorm.py [--quick] [--seeds 0 1 2] [--out runs/textbook/ch06_batchnorm]

As in the book: the first 1000 training images, 784-[100x5]-10 ReLU networks with and without batch
norm, SGD lr 0.01, batches of 100 (the same batches for both), 20 epochs, for 16 initial weight
scales from 1 to 1e-4. Without batch norm the largest scales overflow (the loss becomes inf) and
stop; their curve keeps the accuracy reached. The book: with batch norm learning is faster in almost
every case. Checked on every seed: batch norm's training accuracy averaged over epochs 1 to 20 (the
area under its curve) is higher for at least 12 of the 16 scales. ``--quick``: 4 scales, 5 epochs,
at least 3 of 4.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import MultiLayerNet
from scratchnet_book.experiment import Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.outputs import write_csv
from scratchnet_book.training import load_mnist_arrays, train

NAME = "ch06_batchnorm"
TRAIN_SIZE, BATCH_SIZE, EPOCHS, QUICK_EPOCHS = 1000, 100, 20, 5
SCALES, QUICK_SCALES = np.logspace(0, -4, num=16), np.logspace(0, -4, num=4)
#: With batch norm ahead on at least this share of the scales (the book: "almost all").
MAJORITY = 0.75


def task(ctx: Context, seed: int) -> dict:
    """Every scale with and without batch norm on ``seed``: the training-accuracy curves, the wins."""
    x_train, t_train, x_test, t_test = load_mnist_arrays()
    data = (x_train[:TRAIN_SIZE], t_train[:TRAIN_SIZE], x_test[:TRAIN_SIZE], t_test[:TRAIN_SIZE])
    scales = QUICK_SCALES if ctx.quick else SCALES
    epochs = QUICK_EPOCHS if ctx.quick else EPOCHS
    curves: dict[tuple[float, bool], list[float]] = {}
    diverged: list[tuple[int, float, bool, int]] = []
    wins = 0
    for scale in scales:
        for use_bn in (True, False):
            net = MultiLayerNet(784, [100] * 5, 10, activation="relu", weight_init_std=float(scale),
                                use_batchnorm=use_bn, seed=seed, dtype=np.float32)
            with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the expected outcome
                result = train(ctx, net, data, optimizer="sgd", optimizer_params={"lr": 0.01},
                               batch_size=BATCH_SIZE, epochs=epochs, seed=seed, allow_divergence=True)
            curve = [e["train_acc"] for e in result.history["eval"]]
            if result.status == "diverged":
                # It stopped learning where its loss overflowed: keep what it had reached.
                ctx.log(f"{NAME}: seed {seed}, scale {scale:.2g}, batch norm {use_bn}: diverged at step "
                        f"{result.step}")
                diverged.append((seed, float(scale), use_bn, result.step))
                curve += curve[-1:] * (epochs + 1 - len(curve))
            curves[float(scale), use_bn] = curve
        wins += np.mean(curves[float(scale), True][1:]) > np.mean(curves[float(scale), False][1:])
    ctx.log(f"{NAME}: seed {seed}: batch norm ahead at {wins} of {len(scales)} scales")
    return {"curves": curves, "wins": int(wins), "diverged": diverged}


def summarize(ctx: Context, results: dict[int, dict]) -> Report:
    report = Report(NAME)
    scales = QUICK_SCALES if ctx.quick else SCALES
    epochs = QUICK_EPOCHS if ctx.quick else EPOCHS
    curves = {(seed, scale, bn): curve for seed in ctx.seeds
              for (scale, bn), curve in results[seed]["curves"].items()}
    wins_by_seed = [results[seed]["wins"] for seed in ctx.seeds]
    diverged = [d for seed in ctx.seeds for d in results[seed]["diverged"]]
    report.numbers["scales where batch norm learns faster, by seed"] = {
        str(s): f"{w}/{len(scales)}" for s, w in zip(ctx.seeds, wins_by_seed)}
    report.numbers["diverged runs (seed, scale, batch norm, step)"] = diverged
    need = int(np.ceil(MAJORITY * len(scales)))
    report.check_seeds(f"scales (of {len(scales)}) where batch norm learns faster", "almost all",
                       wins_by_seed, need, len(scales), f">= {need} every seed")
    header = ["seed", "weight_scale", "batchnorm", *(f"epoch{i}" for i in range(epochs + 1))]
    report.add_file(write_csv(ctx.out / "train_accuracy.csv", header,
                              [(s, sc, bn, *c) for (s, sc, bn), c in curves.items()]))

    def draw(fig):
        seed = ctx.seeds[0]
        cols = 4
        axes = fig.subplots(int(np.ceil(len(scales) / cols)), cols, sharex=True, sharey=True, squeeze=False)
        for ax, scale in zip(axes.ravel(), scales):
            ax.plot(curves[seed, float(scale), True], label="batch norm")
            ax.plot(curves[seed, float(scale), False], "--", label="normal")
            ax.set_title(f"W std {scale:.2g}", fontsize=9)
            ax.set_ylim(0, 1)
        axes[0, 0].legend(fontsize=8)
        fig.supxlabel("epoch")
        fig.supylabel("training accuracy")
    report.add_file(ctx.figure("batchnorm.png", draw, figsize=(10, 9 if not ctx.quick else 3)))
    return report


tasks = seed_tasks
run = make_run(tasks, task, summarize)

main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
