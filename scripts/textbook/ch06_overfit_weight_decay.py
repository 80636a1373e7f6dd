"""Chapter 6: overfitting on 300 training images, and weight decay (lambda = 0.1) against it.

    python scripts/textbook/ch06_overfit_weight_decay.py [--quick] [--seeds 0 1 2] [--out DIR]

As in the book: the first 300 training images, 784-[100x6]-10 ReLU (He), SGD lr 0.01, batches of
100, 201 epochs, accuracy on the 300 and on the 10 000 test images after every epoch. Without
weight decay the network learns its 300 images perfectly and the test accuracy stays far below
(figure 6-20); with lambda = 0.1 the gap shrinks and training accuracy stays below 1 (figure 6-21).
Checked on every seed: train accuracy >= 0.99 without decay, < 1 with it, and a smaller gap with it.
float32 networks. ``--quick``: 100 epochs, 2000 test images, the gap order only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from scratchnet import MultiLayerNet
from textbook._common import Context, Report, load_mnist_arrays, make_main, train

NAME = "ch06_overfit_weight_decay"
TRAIN_SIZE, BATCH_SIZE, EPOCHS, QUICK_EPOCHS = 300, 100, 201, 100
LAMBDAS = (0.0, 0.1)


def small_data(quick: bool):
    """The first 300 training images; all test images (2000 in quick mode)."""
    x_train, t_train, x_test, t_test = load_mnist_arrays()
    n_test = 2000 if quick else len(x_test)
    return x_train[:TRAIN_SIZE], t_train[:TRAIN_SIZE], x_test[:n_test], t_test[:n_test]


def run(ctx: Context) -> Report:
    report = Report(NAME)
    data = small_data(ctx.quick)
    epochs = QUICK_EPOCHS if ctx.quick else EPOCHS
    final: dict[float, list[tuple[float, float]]] = {lam: [] for lam in LAMBDAS}
    histories = {}
    for seed in ctx.seeds:
        for lam in LAMBDAS:
            ctx.log(f"{NAME}: lambda {lam}, seed {seed}, {epochs} epochs")
            net = MultiLayerNet(784, [100] * 6, 10, activation="relu", weight_init_std="he",
                                weight_decay_lambda=lam, seed=seed, dtype=np.float32)
            result = train(ctx, net, data, f"lambda{lam:g}_seed{seed}", optimizer="sgd",
                           optimizer_params={"lr": 0.01}, batch_size=BATCH_SIZE, epochs=epochs, seed=seed)
            final[lam].append((result.train_acc, result.test_acc))
            histories[seed, lam] = result.history
    report.numbers["(train_acc, test_acc) by lambda, per seed"] = {str(k): v for k, v in final.items()}
    gaps = {lam: [tr - te for tr, te in final[lam]] for lam in LAMBDAS}
    shrinks = [g_decay < g_plain for g_plain, g_decay in zip(gaps[0.0], gaps[0.1])]
    report.check("train-test gap smaller with weight decay", "smaller (figures 6-20, 6-21)",
                 " / ".join(f"{a:.3f} -> {b:.3f}" for a, b in zip(gaps[0.0], gaps[0.1])), all(shrinks),
                 "every seed")
    if not ctx.quick:
        plain_train = [tr for tr, _ in final[0.0]]
        decay_train = [tr for tr, _ in final[0.1]]
        report.check_seeds("train accuracy without weight decay", "1.0 (memorised)", plain_train, 0.99, 1.0,
                           ">= 0.99 every seed")
        report.check_seeds("train accuracy with lambda 0.1", "< 1.0", decay_train, 0.0, 0.9999,
                           "< 1 every seed")

    report.add_file(accuracy_figure(ctx, "overfit_weight_decay.png", {
        f"weight decay lambda = {lam:g}": histories[ctx.seeds[0], lam] for lam in LAMBDAS}))
    return report


def accuracy_figure(ctx: Context, name: str, histories: dict[str, dict]) -> Path | None:
    """Train and test accuracy per epoch, one panel per titled history (the book's figures 6-20 to 6-23)."""
    def draw(fig):
        for ax, (title, history) in zip(fig.subplots(1, len(histories), sharey=True), histories.items()):
            evals = history["eval"]
            epoch = [e["epoch"] for e in evals]
            ax.plot(epoch, [e["train_acc"] for e in evals], label="train")
            ax.plot(epoch, [e["test_acc"] for e in evals], "--", label="test")
            ax.set_title(f"{title} (seed {ctx.seeds[0]})")
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower right")
        fig.supylabel("accuracy")
    return ctx.figure(name, draw, figsize=(10, 4))


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
