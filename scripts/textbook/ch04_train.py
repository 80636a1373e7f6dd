"""Chapter 4: train TwoLayerNet 784-50-10 (sigmoid) with SGD, by backprop and by numerical gradient.

    python scripts/textbook/ch04_train.py [--quick] [--seeds 0 1 2] [--out runs/textbook/ch04_train]

The book: learning rate 0.1, mini-batches of 100 drawn at random, 10 000 steps, test accuracy 0.945
(checked here within 0.005 on every seed). The book trains with the numerical gradient, which its
loop makes take days; our network's ``numerical_gradient`` takes the same central differences fast,
so the full run trains once that way (the first seed) besides the backprop runs on every seed.
``--quick`` trains one epoch by backprop and checks that 20 numerical-gradient steps follow the
backprop ones to 1e-6.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import TwoLayerNet
from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main, make_run
from scratchnet_book.training import load_mnist_arrays, train

NAME = "ch04_train"
BOOK_TEST_ACC = 0.945
ITERS, QUICK_ITERS, AGREE_STEPS = 10_000, 600, 20
TRAINING = {"optimizer": "sgd", "optimizer_params": {"lr": 0.1}, "batch_size": 100}


def make_net(seed: int) -> TwoLayerNet:
    return TwoLayerNet(784, 50, 10, activation="sigmoid", weight_init_std=0.01, seed=seed)


def tasks(ctx: Context) -> list[tuple[str, int]]:
    """Backprop on every seed; on the first, 20 steps both ways and (full run) the numerical training."""
    keys = [("backprop", seed) for seed in ctx.seeds] + [("agree", ctx.seeds[0])]
    return keys if ctx.quick else keys + [("numerical", ctx.seeds[0])]


def task(ctx: Context, key: tuple[str, int]) -> dict:
    kind, seed = key
    data = load_mnist_arrays()
    iters = QUICK_ITERS if ctx.quick else ITERS
    if kind == "agree":
        # The same steps by numerical gradient: same seed, same batches, nearly the same parameters.
        nets = {}
        for grad in ("backprop", "numerical"):
            nets[grad] = make_net(seed)
            train(ctx, nets[grad], data, iters=AGREE_STEPS, seed=seed, grad=grad, **TRAINING)
        diff = max(float(np.abs(nets["backprop"].params[k] - nets["numerical"].params[k]).max())
                   for k in nets["backprop"].params)
        return {"diff": diff}
    ctx.log(f"{NAME}: {kind}, seed {seed}, {iters} steps")
    grad = {"grad": "numerical"} if kind == "numerical" else {}
    result = train(ctx, make_net(seed), data, f"{kind}_seed{seed}", iters=iters, seed=seed, **grad,
                   **TRAINING)
    return {"train_acc": result.train_acc, "test_acc": result.test_acc, "wall_s": result.wall_time_s,
            "history": result.history}


def summarize(ctx: Context, results: dict) -> Report:
    report = Report(NAME)
    iters = QUICK_ITERS if ctx.quick else ITERS
    tol = TOLERANCES["accuracy"]
    first = ctx.seeds[0]
    backprop = {seed: results["backprop", seed] for seed in ctx.seeds}
    report.add_file(ctx.curves("curves_backprop.png", backprop[first]["history"]))
    report.numbers["backprop (train_acc, test_acc) by seed"] = {
        str(s): (r["train_acc"], r["test_acc"]) for s, r in backprop.items()}
    test = [r["test_acc"] for r in backprop.values()]
    if ctx.quick:
        report.check(f"test accuracy after {iters} steps (quick: not the book's number)",
                     "> 0.7 (book ~0.78)", f"{np.mean(test):.4f}", min(test) > 0.7, "sanity")
    else:
        report.check_seeds("test accuracy, backprop", BOOK_TEST_ACC, test, BOOK_TEST_ACC - tol,
                           BOOK_TEST_ACC + tol, f"±{tol} every seed")

    diff = results["agree", first]["diff"]
    report.numbers[f"max |param difference| after {AGREE_STEPS} steps, numerical vs backprop"] = diff
    report.check(f"numerical-gradient steps follow backprop ({AGREE_STEPS} steps)", "same training",
                 f"max |dW| {diff:.1e}", diff < 1e-6, "1e-6")

    if not ctx.quick:
        r = results["numerical", first]
        report.numbers["numerical (train_acc, test_acc, wall_s)"] = (r["train_acc"], r["test_acc"],
                                                                    round(r["wall_s"], 1))
        report.add_file(ctx.curves("curves_numerical.png", r["history"]))
        report.check_seeds(f"test accuracy, numerical gradient (seed {first})", BOOK_TEST_ACC,
                           [r["test_acc"]], BOOK_TEST_ACC - tol, BOOK_TEST_ACC + tol, f"±{tol}")
    return report


run = make_run(tasks, task, summarize)

main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
