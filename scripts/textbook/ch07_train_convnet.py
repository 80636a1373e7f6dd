"""Chapter 7: SimpleConvNet trained on MNIST (Adam, lr 0.001, batches of 100, 20 epochs).

    python scripts/textbook/ch07_train_convnet.py [--quick] [--seeds 0 1 2] [--out DIR]

As in the book: conv (30 filters of 5x5) - relu - pool - affine (100) - relu - affine - softmax,
weights drawn with std 0.01, Adam with lr 0.001, batches of 100, 20 epochs of the 60 000 training
images. The book's run prints test accuracy 0.9896; ours must be within 0.005 of it on every seed.
The network is float32. The full run also compares its seed 0 with the shipped weights
(weights/ch07_simple_convnet.npz, trained by scripts/train.py with the same seed and batches).
``--quick`` trains 100 steps (a loose check) and checks the shipped weights' recorded accuracy.
"""

from __future__ import annotations

import sys

from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.training import conv_report, conv_task

NAME = "ch07_train_convnet"
WEIGHTS = "ch07_simple_convnet"
BOOK_ACCURACY = 0.9896
EPOCHS, QUICK_ITERS = 20, 100
#: About how long one full task (one seed's 20 epochs) took here: the cluster starts the longest tasks first.
TASK_SECONDS = 245
#: The quick run's 100 steps reach about 0.9 (chance is 0.1).
QUICK_MIN_ACCURACY = 0.7


def task(ctx: Context, seed: int) -> dict:
    return conv_task(ctx, WEIGHTS, seed, EPOCHS, QUICK_ITERS)


def summarize(ctx: Context, results: dict[int, dict]) -> Report:
    tol = TOLERANCES["accuracy"]
    return conv_report(ctx, Report(NAME), WEIGHTS, results, BOOK_ACCURACY, BOOK_ACCURACY - tol,
                       BOOK_ACCURACY + tol, QUICK_MIN_ACCURACY, "train_convnet.png")


tasks = seed_tasks
run = make_run(tasks, task, summarize)
main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
