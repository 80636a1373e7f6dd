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

import numpy as np

from scratchnet import MultiLayerNet
from scratchnet_book.experiment import Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.training import OVERFIT_BATCH_SIZE, accuracy_figure, check_gap_shrinks, small_data, train

NAME = "ch06_overfit_weight_decay"
EPOCHS, QUICK_EPOCHS = 201, 100
LAMBDAS = (0.0, 0.1)


def task(ctx: Context, seed: int) -> dict[float, dict]:
    """Both networks, without and with weight decay, on ``seed``: final accuracies and histories."""
    data = small_data(ctx.quick)
    epochs = QUICK_EPOCHS if ctx.quick else EPOCHS
    out = {}
    for lam in LAMBDAS:
        ctx.log(f"{NAME}: lambda {lam}, seed {seed}, {epochs} epochs")
        net = MultiLayerNet(784, [100] * 6, 10, activation="relu", weight_init_std="he",
                            weight_decay_lambda=lam, seed=seed, dtype=np.float32)
        result = train(ctx, net, data, f"lambda{lam:g}_seed{seed}", optimizer="sgd",
                       optimizer_params={"lr": 0.01}, batch_size=OVERFIT_BATCH_SIZE, epochs=epochs, seed=seed)
        out[lam] = {"accs": (result.train_acc, result.test_acc), "history": result.history}
    return out


def summarize(ctx: Context, results: dict[int, dict[float, dict]]) -> Report:
    report = Report(NAME)
    final = {lam: [results[seed][lam]["accs"] for seed in ctx.seeds] for lam in LAMBDAS}
    report.numbers["(train_acc, test_acc) by lambda, per seed"] = {str(k): v for k, v in final.items()}
    check_gap_shrinks(report, "weight decay", "smaller (figures 6-20, 6-21)", final[0.0], final[0.1])
    if not ctx.quick:
        plain_train = [tr for tr, _ in final[0.0]]
        decay_train = [tr for tr, _ in final[0.1]]
        report.check_seeds("train accuracy without weight decay", "1.0 (memorised)", plain_train, 0.99, 1.0,
                           ">= 0.99 every seed")
        report.check_seeds("train accuracy with lambda 0.1", "< 1.0", decay_train, 0.0, 0.9999,
                           "< 1 every seed")

    report.add_file(accuracy_figure(ctx, "overfit_weight_decay.png", {
        f"weight decay lambda = {lam:g}": results[ctx.seeds[0]][lam]["history"] for lam in LAMBDAS}))
    return report


tasks = seed_tasks
run = make_run(tasks, task, summarize)

main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
