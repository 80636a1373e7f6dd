"""Chapter 7: the trained first-layer filters applied to an MNIST digit, and their responses.

    python scripts/textbook/ch07_apply_filter.py [--out runs/textbook/ch07_apply_filter]

The book convolves an image with learned filters and shows that each responds to edges or blobs of
its own orientation. We take the first test digit, pass it through the first layer of the shipped
SimpleConvNet (weights/ch07_simple_convnet.npz: 30 filters of 5x5) and draw each filter beside its
24x24 response. Checked: the layer's output equals the filters slid over the image by hand (the
cross-correlation the book's Convolution computes, plus the bias). That the trained filters are
smooth edge and blob detectors is measured in ch07_filters; here the figure shows what they pick out.
Runs in seconds from the shipped weights; ``--quick`` is the same.
"""

from __future__ import annotations

import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv
from scratchnet_book.training import image_arrays
from scratchnet_book.weights import load_weights

NAME = "ch07_apply_filter"
WEIGHTS = "ch07_simple_convnet"
IMAGE = 0  # the first test image, a 7


def by_hand(image: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each filter of ``W`` (FN, 1, FH, FW) slid over ``image`` (1, H, W): stride 1, no padding, plus ``b``.
    """
    windows = sliding_window_view(image[0].astype(np.float64), W.shape[2:])  # (OH, OW, FH, FW)
    return np.einsum("ijkl,fkl->fij", windows, W[:, 0].astype(np.float64)) + b[:, None, None]


def draw(fig, image: np.ndarray, W: np.ndarray, responses: np.ndarray, columns: int = 10) -> None:
    """The digit, then each filter above its response."""
    rows = -(-len(W) // columns)
    grid = fig.add_gridspec(1 + 2 * rows, columns)
    ax = fig.add_subplot(grid[0, :2])
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title("input", fontsize=9)
    ax.set_axis_off()
    for i in range(len(W)):
        r, c = 1 + 2 * (i // columns), i % columns
        for row, img in ((r, W[i, 0]), (r + 1, responses[i])):
            ax = fig.add_subplot(grid[row, c])
            ax.imshow(img, cmap="gray_r", interpolation="nearest")
            ax.set_axis_off()


def run(ctx: Context) -> Report:
    report = Report(NAME)
    net, meta = load_weights(WEIGHTS, dtype=np.float64)
    _, _, x_test, t_test = image_arrays()
    image = x_test[IMAGE]
    conv = net.layer_list[0]  # the Convolution
    responses = conv.forward(image[None].astype(np.float64))[0]  # (30, 24, 24)
    W, b = net.params["W1"], net.params["b1"]
    hand = by_hand(image, W, b)
    err = float(np.abs(responses - hand).max())
    report.check("Convolution.forward equals the filters slid by hand", "same", f"max |diff| {err:.1e}",
                 err <= 1e-10, "1e-10")
    flat = responses.reshape(len(W), -1)
    report.numbers = {"image": f"test image {IMAGE}, label {int(t_test[IMAGE])}",
                      "response shape": list(responses.shape),
                      "strongest filters": np.argsort(-np.abs(flat).max(axis=1))[:5].tolist(),
                      "weights": f"{WEIGHTS} (test accuracy {meta['test_accuracy']})"}
    report.add_file(write_csv(ctx.out / "responses.csv", ["filter", "min", "max", "mean"],
                              ((i, f.min(), f.max(), f.mean()) for i, f in enumerate(flat.round(6)))))
    report.add_file(ctx.figure("apply_filter.png", lambda fig: draw(fig, image, W, responses),
                               figsize=(9, 7)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
