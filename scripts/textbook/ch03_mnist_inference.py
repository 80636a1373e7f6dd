"""Chapter 3: MNIST inference, one image at a time and in batches, with a network we trained ourselves.

    python scripts/textbook/ch03_mnist_inference.py [--quick] [--out runs/textbook/ch03_mnist_inference]

The book loads pretrained weights from a pickle (sample_weight.pkl) into a 784-50-100-10 sigmoid
network and gets accuracy 0.9352. Unpickling runs arbitrary code, so we never load it: we ship our
own weights for the same architecture (weights/ch03_mlp.npz, read with ``allow_pickle=False``,
trained here with Adam, batches of 100, 3000 steps). The network is saved as network.npz, loaded
into a fresh network, and classifies the test set image by image and in batches of 100. Both must
give the same accuracy, and it must be at least the book's 0.9352 (within 0.005). ``--quick`` uses
the shipped weights (seconds; the per-image loop on 1000 images); the full run retrains them and
compares with the shipped ones.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main
from scratchnet_book.outputs import write_json
from scratchnet_book.training import load_mnist_arrays, train
from scratchnet_book.weights import load_weights, make_network

NAME = "ch03_mnist_inference"
BOOK_ACCURACY = 0.9352
WEIGHTS = "ch03_mlp"
ITERS = 3000
BATCH_SIZE = 100
#: The quick run's per-image loop covers this many test images (the batched one all of them).
QUICK_IMAGES = 1000


def accuracy_per_sample(net, x: np.ndarray, t: np.ndarray) -> float:
    """The book's first loop: predict one image, take the argmax, count the hits."""
    hits = 0
    for i in range(len(x)):
        y = net.predict(x[i:i + 1])  # a batch of one: (1, 784) -> (1, 10)
        hits += int(np.argmax(y) == t[i])
    return hits / len(x)


def accuracy_batched(net, x: np.ndarray, t: np.ndarray, batch_size: int = BATCH_SIZE) -> float:
    """The book's second loop: ``batch_size`` images per forward pass."""
    hits = 0
    for i in range(0, len(x), batch_size):
        y = net.predict(x[i:i + batch_size])
        hits += int(np.sum(np.argmax(y, axis=1) == t[i:i + batch_size]))
    return hits / len(x)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    data = load_mnist_arrays()
    x_test, t_test = data[2], data[3]
    seed = ctx.seeds[0]
    shipped, meta = load_weights(WEIGHTS)
    if ctx.quick:
        trained = shipped
    else:
        ctx.log(f"{NAME}: training 784-50-100-10 sigmoid, seed {seed}, {ITERS} steps")
        trained = make_network(WEIGHTS, seed)
        train(ctx, trained, data, "train", optimizer="adam", batch_size=BATCH_SIZE, iters=ITERS, seed=seed)
    path = ctx.out / "network.npz"
    trained.save(path)
    report.add_file(path)

    net = make_network(WEIGHTS, seed + 1)  # other initial weights: everything must come from the file
    net.load(path)
    n = QUICK_IMAGES if ctx.quick else len(x_test)
    same = np.array_equal(net.predict(x_test), trained.predict(x_test))
    report.check("loaded network predicts as the trained one", "identical", "identical" if same else "differ",
                 same, "exact")
    per_sample = accuracy_per_sample(net, x_test[:n], t_test[:n])
    batched = accuracy_batched(net, x_test[:n], t_test[:n])
    report.check(f"accuracy per sample == batched ({n} test images)", "same", f"{per_sample} / {batched}",
                 per_sample == batched, "exact")
    accuracy = accuracy_batched(net, x_test, t_test)
    report.numbers = {"test images": len(x_test), "accuracy": accuracy,
                      "shipped accuracy": meta["test_accuracy"],
                      "weights": "shipped" if ctx.quick else f"trained here, seed {seed}"}
    tol = TOLERANCES["accuracy"]
    what = "shipped weights" if ctx.quick else f"trained here, {ITERS} steps"
    report.check(f"accuracy (book: its pickled weights; ours: {what})", BOOK_ACCURACY, f"{accuracy:.4f}",
                 accuracy >= BOOK_ACCURACY - tol, f">= book - {tol}")
    if not ctx.quick:
        report.check("retrained against the shipped weights", meta["test_accuracy"], f"{accuracy:.4f}",
                     abs(accuracy - meta["test_accuracy"]) <= tol, f"±{tol}")
    report.add_file(write_json(ctx.out / "inference.json", report.numbers))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
