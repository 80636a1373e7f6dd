"""Chapter 8: DeepConvNet trained on MNIST (Adam, lr 0.001, batches of 100).

    python scripts/textbook/ch08_train_deepnet.py [--quick] [--seeds 0 1 2] [--out DIR]

As in the book: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters) with ReLU, a 2x2 max pool
after every second one, Affine (50) - ReLU - Dropout 0.5 - Affine - Dropout 0.5, He initial weights,
Adam with lr 0.001, batches of 100. The book trains 20 epochs and reports test accuracy 0.9938; we
train ``EPOCHS`` epochs, the length of the run that trained the shipped weights
(weights/ch08_deep_convnet.npz), and require at least 0.9938 - 0.005 on every seed. The network is
float32. The full run also compares its seed 0 with the shipped weights (same seed and batches).
``--quick`` trains 20 steps (a loose check) and checks the shipped weights' recorded accuracy.
"""

from __future__ import annotations

import sys

from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main, make_run, seed_tasks
from scratchnet_book.training import conv_report, conv_task

NAME = "ch08_train_deepnet"
WEIGHTS = "ch08_deep_convnet"
BOOK_ACCURACY = 0.9938
EPOCHS, QUICK_ITERS = 5, 20
#: About how long one full task (one seed's 5 epochs) took here: the cluster starts the longest tasks first.
TASK_SECONDS = 530
#: The quick run's 20 steps reach about 0.5 (chance is 0.1).
QUICK_MIN_ACCURACY = 0.2


def task(ctx: Context, seed: int) -> dict:
    return conv_task(ctx, WEIGHTS, seed, EPOCHS, QUICK_ITERS)


def summarize(ctx: Context, results: dict[int, dict]) -> Report:
    return conv_report(ctx, Report(NAME), WEIGHTS, results, BOOK_ACCURACY,
                       BOOK_ACCURACY - TOLERANCES["accuracy"], 1.0, QUICK_MIN_ACCURACY, "train_deepnet.png")


tasks = seed_tasks
run = make_run(tasks, task, summarize)
main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
