"""Chapter 8: DeepConvNet's weights rounded to 16-bit floats classify as well as in 64 bits.

    python scripts/textbook/ch08_half_float_network.py [--quick] [--out DIR]

The book rounds the trained weights and the test images to float16 (``param[...] =
param.astype(np.float16)``: the values become half-precision numbers, the arithmetic stays float64)
and finds the same accuracy. We do the same with the shipped weights (weights/ch08_deep_convnet.npz)
against the same weights in float64: the accuracies must agree within 0.001. The archive of the
float16 weights is half the size of the float32 one. ``--quick`` classifies the first 2000 test
images, the full run all 10 000.
"""

from __future__ import annotations

import io
import sys

import numpy as np

from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_json
from scratchnet_book.training import image_arrays
from scratchnet_book.weights import load_weights

NAME = "ch08_half_float_network"
WEIGHTS = "ch08_deep_convnet"
TOLERANCE = 0.001
QUICK_IMAGES = 2000


def npz_bytes(state: dict[str, np.ndarray]) -> int:
    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getbuffer().nbytes


def run(ctx: Context) -> Report:
    report = Report(NAME)
    net, meta = load_weights(WEIGHTS, dtype=np.float64)
    _, _, x_test, t_test = image_arrays()
    n = QUICK_IMAGES if ctx.quick else len(t_test)
    x, t = x_test[:n].astype(np.float64), t_test[:n]
    acc64 = net.accuracy(x, t)
    half = {name: p.astype(np.float16) for name, p in net.params.items()}
    change = max(float(np.max(np.abs(h - p) / np.maximum(np.abs(p), 1e-30)))
                 for h, p in zip(half.values(), net.params.values()) if np.any(p))
    net.load_state_dict(half, source="float16 weights")  # half-precision values in the float64 arrays
    acc16 = net.accuracy(x.astype(np.float16), t)
    report.numbers = {"test images": n, "accuracy float64": acc64, "accuracy float16": acc16,
                      "largest relative change of a weight": f"{change:.2e}",
                      "archive bytes float32 / float16":
                          [npz_bytes({k: v.astype(np.float32) for k, v in half.items()}), npz_bytes(half)]}
    report.check(f"|float16 - float64 accuracy| ({n} test images)", "same (the book: equal)",
                 f"{acc16:.4f} vs {acc64:.4f}", abs(acc16 - acc64) <= TOLERANCE, f"<= {TOLERANCE}")
    report.add_file(write_json(ctx.out / "half_float.json", report.numbers))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
