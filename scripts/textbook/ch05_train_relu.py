"""Chapter 5: train TwoLayerNet 784-50-10 with ReLU by backpropagation.

    python scripts/textbook/ch05_train_relu.py [--quick] [--seeds 0 1 2] [--out runs/textbook/ch05_train_relu]

The book's settings (SGD, learning rate 0.1, batches of 100, 10 000 steps, weights drawn with std
0.01) end at train 0.979 / test 0.972; both are checked within 0.005 on every seed. ``--quick`` trains
one epoch and checks the network is already past the sigmoid network's first epoch.
"""

from __future__ import annotations

import sys

from scratchnet import TwoLayerNet
from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.training import load_mnist_arrays, train

NAME = "ch05_train_relu"
BOOK_TRAIN_ACC, BOOK_TEST_ACC = 0.979, 0.972
ITERS, QUICK_ITERS = 10_000, 600


def task(ctx: Context, seed: int) -> dict:
    iters = QUICK_ITERS if ctx.quick else ITERS
    ctx.log(f"{NAME}: seed {seed}, {iters} steps")
    net = TwoLayerNet(784, 50, 10, activation="relu", weight_init_std=0.01, seed=seed)
    result = train(ctx, net, load_mnist_arrays(), f"seed{seed}", optimizer="sgd",
                   optimizer_params={"lr": 0.1}, batch_size=100, iters=iters, seed=seed)
    return {"accs": (result.train_acc, result.test_acc), "history": result.history}


def summarize(ctx: Context, results: dict[int, dict]) -> Report:
    report = Report(NAME)
    iters = QUICK_ITERS if ctx.quick else ITERS
    accs = {seed: results[seed]["accs"] for seed in ctx.seeds}
    report.add_file(ctx.curves("curves.png", results[ctx.seeds[0]]["history"]))
    report.numbers["(train_acc, test_acc) by seed"] = {str(s): a for s, a in accs.items()}
    train_accs, test_accs = [a[0] for a in accs.values()], [a[1] for a in accs.values()]
    tol = TOLERANCES["accuracy"]
    if ctx.quick:
        report.check(f"test accuracy after {iters} steps (quick: not the book's number)", "> 0.88",
                     f"{min(test_accs):.4f}", min(test_accs) > 0.88, "sanity")
    else:
        for what, book, values in (("train", BOOK_TRAIN_ACC, train_accs), ("test", BOOK_TEST_ACC, test_accs)):
            report.check_seeds(f"{what} accuracy", book, values, book - tol, book + tol, f"±{tol} every seed")
    return report


tasks = seed_tasks
run = make_run(tasks, task, summarize)


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
