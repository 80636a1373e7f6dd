"""Chapter 3: MNIST inference, one image at a time and in batches, with a network we trained ourselves.

    python scripts/textbook/ch03_mnist_inference.py [--quick] [--out runs/textbook/ch03_mnist_inference]

The book loads pretrained weights from a pickle (sample_weight.pkl) into a 784-50-100-10 sigmoid
network and gets accuracy 0.9352. Unpickling runs arbitrary code, so we never load it: we train the
same architecture (Adam, batches of 100), save it as network.npz, load it into a fresh network
(``allow_pickle=False``), and classify the test set image by image and in batches of 100. Both must
give the same accuracy, and ours must be at least the book's 0.9352 (within 0.005).
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import MultiLayerNet
from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main
from scratchnet_book.outputs import write_json
from scratchnet_book.training import load_mnist_arrays, train

NAME = "ch03_mnist_inference"
BOOK_ACCURACY = 0.9352
ITERS, QUICK_ITERS = 3000, 300
BATCH_SIZE = 100


def make_net(seed: int) -> MultiLayerNet:
    return MultiLayerNet(784, [50, 100], 10, activation="sigmoid", weight_init_std="sigmoid", seed=seed)


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
    iters = QUICK_ITERS if ctx.quick else ITERS
    ctx.log(f"{NAME}: training 784-50-100-10 sigmoid, seed {seed}, {iters} steps")
    trained = make_net(seed)
    train(ctx, trained, data, "train", optimizer="adam", batch_size=BATCH_SIZE, iters=iters, seed=seed)
    path = ctx.out / "network.npz"
    trained.save(path)
    report.add_file(path)

    net = make_net(seed + 1)  # other initial weights: everything must come from the file
    net.load(path)
    n = 1000 if ctx.quick else len(x_test)
    x, t = x_test[:n], t_test[:n]
    same = np.array_equal(net.predict(x), trained.predict(x))
    report.check("loaded network predicts as the trained one", "identical", "identical" if same else "differ",
                 same, "exact")
    per_sample = accuracy_per_sample(net, x, t)
    batched = accuracy_batched(net, x, t)
    report.numbers = {"test images": n, "accuracy per sample": per_sample, "accuracy batched": batched}
    report.check(f"accuracy per sample == batched ({n} test images)", "same", f"{per_sample} / {batched}",
                 per_sample == batched, "exact")
    tol = TOLERANCES["accuracy"]
    if ctx.quick:
        report.check(f"accuracy after {iters} steps (quick: not the book's number)", "> 0.85",
                     f"{batched:.4f}", batched > 0.85, "sanity")
    else:
        report.check("accuracy (book: its pickled weights; ours: trained here)", BOOK_ACCURACY,
                     f"{batched:.4f}", batched >= BOOK_ACCURACY - tol, f">= book - {tol}")
    report.add_file(write_json(ctx.out / "inference.json", report.numbers))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
