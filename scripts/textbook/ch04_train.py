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
from textbook._common import TOLERANCES, Context, Report, load_mnist_arrays, make_main, train

NAME = "ch04_train"
BOOK_TEST_ACC = 0.945
ITERS, QUICK_ITERS, AGREE_STEPS = 10_000, 600, 20


def make_net(seed: int) -> TwoLayerNet:
    return TwoLayerNet(784, 50, 10, activation="sigmoid", weight_init_std=0.01, seed=seed)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    data = load_mnist_arrays()
    common = {"optimizer": "sgd", "optimizer_params": {"lr": 0.1}, "batch_size": 100}
    iters = QUICK_ITERS if ctx.quick else ITERS
    tol = TOLERANCES["accuracy"]

    accs = {}
    for seed in ctx.seeds:
        ctx.log(f"{NAME}: backprop, seed {seed}, {iters} steps")
        result = train(ctx, make_net(seed), data, f"backprop_seed{seed}", iters=iters, seed=seed, **common)
        accs[seed] = (result.train_acc, result.test_acc)
        if seed == ctx.seeds[0]:
            report.add_file(ctx.curves("curves_backprop.png", result.history))
    report.numbers["backprop (train_acc, test_acc) by seed"] = {str(s): a for s, a in accs.items()}
    test = [a[1] for a in accs.values()]
    if ctx.quick:
        report.check(f"test accuracy after {iters} steps (quick: not the book's number)",
                     "> 0.7 (book ~0.78)", f"{np.mean(test):.4f}", min(test) > 0.7, "sanity")
    else:
        report.check_seeds("test accuracy, backprop", BOOK_TEST_ACC, test, BOOK_TEST_ACC - tol,
                           BOOK_TEST_ACC + tol, f"±{tol} every seed")

    # The same steps by numerical gradient: same seed, same batches, nearly the same parameters.
    seed = ctx.seeds[0]
    nets = {}
    for grad in ("backprop", "numerical"):
        nets[grad] = make_net(seed)
        train(ctx, nets[grad], data, iters=AGREE_STEPS, seed=seed, grad=grad, **common)
    diff = max(float(np.abs(nets["backprop"].params[k] - nets["numerical"].params[k]).max())
               for k in nets["backprop"].params)
    report.numbers[f"max |param difference| after {AGREE_STEPS} steps, numerical vs backprop"] = diff
    report.check(f"numerical-gradient steps follow backprop ({AGREE_STEPS} steps)", "same training",
                 f"max |dW| {diff:.1e}", diff < 1e-6, "1e-6")

    if not ctx.quick:
        ctx.log(f"{NAME}: numerical gradient, seed {seed}, {iters} steps")
        result = train(ctx, make_net(seed), data, f"numerical_seed{seed}", iters=iters, seed=seed,
                       grad="numerical", **common)
        report.numbers["numerical (train_acc, test_acc, wall_s)"] = (result.train_acc, result.test_acc,
                                                                    round(result.wall_time_s, 1))
        report.add_file(ctx.curves("curves_numerical.png", result.history))
        report.check_seeds(f"test accuracy, numerical gradient (seed {seed})", BOOK_TEST_ACC,
                           [result.test_acc], BOOK_TEST_ACC - tol, BOOK_TEST_ACC + tol, f"±{tol}")
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
