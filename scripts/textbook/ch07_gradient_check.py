"""Chapter 7: gradient check of SimpleConvNet, backprop against numerical differentiation.

    python scripts/textbook/ch07_gradient_check.py [--out runs/textbook/ch07_gradient_check]

The book checks a shrunken SimpleConvNet (a 10x10 input, ten 3x3 filters, hidden 10) on one random
image. We check that one and the network at full size, 30 5x5 filters on 1x28x28, hidden 100
(430 000 parameters), on the first three MNIST training images, in float64 (seconds: the numerical
gradient's fast path perturbs the Affine layers through a rank-1 change of the logits). The relative
error of every parameter must be at most 1e-5. ``--quick`` is the same.

MNIST's background is exactly 0: with zero biases every background output of a filter sits on ReLU's
kink and the pool windows hold exact ties, where no derivative exists. So the conv biases start
below the kink (-0.02 to -0.04), the others away from 0, and h = 1e-6 keeps stroke pixels near 0
from crossing the kink within a step.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import SimpleConvNet, gradient_check
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv
from scratchnet_book.training import image_arrays

NAME = "ch07_gradient_check"
REL_TOL = 1e-5
H = 1e-6


def book_small_net(seed: int) -> SimpleConvNet:
    """The book's chapter 7 gradient-check network."""
    conv = {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1}
    return SimpleConvNet(input_dim=(1, 10, 10), conv_param=conv, hidden_size=10, output_size=10,
                         weight_init_std=0.01, seed=seed)


def off_the_kinks(net: SimpleConvNet, seed: int) -> None:
    """Conv biases in [-0.04, -0.02), the other biases N(0, 0.1^2): no output exactly on ReLU's kink."""
    rng = np.random.default_rng(seed)
    net.params["b1"][...] = -0.02 - 0.02 * rng.random(net.params["b1"].shape)
    for name in ("b2", "b3"):
        net.params[name] += 0.1 * rng.standard_normal(net.params[name].shape)


def run(ctx: Context) -> Report:
    report = Report(NAME)
    seed = ctx.seeds[0]
    x_train, t_train, _, _ = image_arrays()
    rng = np.random.default_rng(seed)
    cases = [("10x10 book net, 1 random image", book_small_net(seed), rng.random((1, 1, 10, 10)),
              np.array([1])),
             ("full size, 3 MNIST images", SimpleConvNet(seed=seed), x_train[:3].astype(np.float64),
              t_train[:3])]
    rows = []
    for what, net, x, t in cases:
        off_the_kinks(net, seed + 4)
        size = int(sum(p.size for p in net.params.values()))
        ctx.log(f"{NAME}: {what}, {size} parameters")
        result = gradient_check(net, x, t, h=H)
        print(result, file=sys.stderr)
        for name, row in result.items():
            rows.append((what, name, row.max_abs_diff, row.mean_abs_diff, row.rel_error))
            report.check(f"rel error of {name} ({what})", f"<= {REL_TOL:g}", f"{row.rel_error:.2e}",
                         row.rel_error <= REL_TOL, f"<= {REL_TOL:g}")
        report.numbers[f"{what}: parameters, max rel error"] = [size, f"{result.max_rel_error:.3g}"]
    report.add_file(write_csv(ctx.out / "gradient_check.csv",
                              ["network", "param", "max_abs_diff", "mean_abs_diff", "rel_error"], rows))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
