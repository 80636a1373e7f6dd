"""Chapter 5: gradient check of TwoLayerNet, backprop against numerical differentiation.

    python scripts/textbook/ch05_gradient_check.py [--out runs/textbook/ch05_gradient_check]

As in the book: TwoLayerNet 784-50-10 (ReLU), the first three MNIST training images, the mean
absolute difference of each parameter's two gradients. The book prints about 1e-10 to 1e-7; every
one must be at most 1e-6. With the book's loss (log(y + 1e-7)) and with our default fused loss.
"""

from __future__ import annotations

import sys

from scratchnet import TwoLayerNet, gradient_check
from scratchnet_book.experiment import TOLERANCES, Context, Report, make_main
from scratchnet_book.outputs import write_csv
from scratchnet_book.training import load_mnist_arrays

NAME = "ch05_gradient_check"
#: The book's printed mean absolute differences.
BOOK = {"W1": 3.95e-10, "b1": 2.56e-09, "W2": 6.09e-09, "b2": 1.41e-07}


def run(ctx: Context) -> Report:
    report = Report(NAME)
    x_train, t_train, _, _ = load_mnist_arrays()
    x, t = x_train[:3].astype("float64"), t_train[:3]
    limit = TOLERANCES["gradcheck_mean_abs"]
    rows = []
    for form in ("textbook", "fused"):
        net = TwoLayerNet(784, 50, 10, activation="relu", seed=ctx.seeds[0], loss_form=form)
        result = gradient_check(net, x, t)
        print(f"loss_form={form!r}\n{result}", file=sys.stderr)
        for name, row in result.items():
            rows.append((form, name, row.max_abs_diff, row.mean_abs_diff, row.rel_error))
            report.check(f"mean |backprop - numerical| {name} ({form} loss)", BOOK[name],
                         f"{row.mean_abs_diff:.2e}", row.mean_abs_diff <= limit, f"<= {limit:g}")
    report.numbers = {f"{form} {name} mean abs diff": f"{mean:.3g}" for form, name, _, mean, _ in rows}
    report.add_file(write_csv(ctx.out / "gradient_check.csv",
                              ["loss_form", "param", "max_abs_diff", "mean_abs_diff", "rel_error"], rows))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
