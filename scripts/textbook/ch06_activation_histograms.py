"""Chapter 6: histograms of the hidden activations of a 5-layer network for three initial weight scales.

    python scripts/textbook/ch06_activation_histograms.py [--out runs/textbook/ch06_activation_histograms]

As in the book: 1000 random inputs of 100 features, five layers of 100 sigmoid units, weights with
std 1, 0.01 and Xavier's sqrt(1/100) (and ReLU with 0.01, Xavier and He). With std 1 the sigmoid
outputs pile up at 0 and 1 (vanishing gradients); with 0.01 they all sit near 0.5 (every unit the
same: no expressive power); Xavier keeps them spread in every layer. Checked as measured fractions.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet import relu, sigmoid
from scratchnet_book.experiment import Context, Report, make_main
from scratchnet_book.outputs import write_csv, write_json

NAME = "ch06_activation_histograms"
N_SAMPLES, N_UNITS, N_LAYERS = 1000, 100, 5
SIGMOID_SCALES = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": np.sqrt(1.0 / N_UNITS)}
RELU_SCALES = {"std=0.01": 0.01, "Xavier": np.sqrt(1.0 / N_UNITS), "He": np.sqrt(2.0 / N_UNITS)}


def activations(activation, std: float, rng: np.random.Generator, x: np.ndarray) -> list[np.ndarray]:
    """The output of each of the N_LAYERS layers for input ``x``."""
    out, z = [], x
    for _ in range(N_LAYERS):
        W = rng.standard_normal((N_UNITS, N_UNITS)) * std
        z = activation(z @ W)
        out.append(z)
    return out


def run(ctx: Context) -> Report:
    report = Report(NAME)
    rng = np.random.default_rng(ctx.seeds[0])
    x = rng.standard_normal((N_SAMPLES, N_UNITS))
    runs = {f"sigmoid {k}": activations(sigmoid, s, rng, x) for k, s in SIGMOID_SCALES.items()}
    runs |= {f"relu {k}": activations(relu, s, rng, x) for k, s in RELU_SCALES.items()}

    def fraction(a, lo, hi):
        return float(np.mean((a >= lo) & (a <= hi)))

    last = {k: v[-1] for k, v in runs.items()}
    saturated = fraction(last["sigmoid std=1"], 0, 0.1) + fraction(last["sigmoid std=1"], 0.9, 1)
    centred = fraction(last["sigmoid std=0.01"], 0.4, 0.6)
    spread = float(last["sigmoid Xavier"].std())
    relu_small = float(np.abs(last["relu std=0.01"]).mean())
    relu_he, relu_xavier = float(last["relu He"].std()), float(last["relu Xavier"].std())
    report.numbers = {"sigmoid std=1: fraction of layer-5 outputs < 0.1 or > 0.9": saturated,
                      "sigmoid std=0.01: fraction in [0.4, 0.6]": centred,
                      "sigmoid Xavier: std of layer-5 outputs": spread,
                      "relu std=0.01: mean |layer-5 output|": relu_small,
                      "relu Xavier / He: std of layer-5 outputs": [relu_xavier, relu_he]}
    report.check("sigmoid std=1 saturates: share at 0 or 1 (layer 5)", "most, at 0 and 1", f"{saturated:.2f}",
                 saturated > 0.5, "> 0.5")
    report.check("sigmoid std=0.01 collapses: share in [0.4, 0.6]", "all near 0.5", f"{centred:.2f}",
                 centred > 0.99, "> 0.99")
    report.check("sigmoid Xavier stays spread: std of layer-5 outputs", "spread", f"{spread:.3f}",
                 spread > 0.05, "> 0.05")
    report.check("ReLU: He keeps the scale, Xavier and 0.01 shrink it", "He > Xavier > 0.01",
                 f"{relu_he:.3g} > {relu_xavier:.3g} > {relu_small:.1e}", relu_he > relu_xavier > relu_small,
                 "order")
    report.add_file(write_json(ctx.out / "summary.json", report.numbers))
    histograms = {}  # (setting, layer) -> (counts, edges)
    for key, layers in runs.items():
        upper = 1.0 if key.startswith("sigmoid") else 1.5
        for i, a in enumerate(layers, 1):
            histograms[key, i] = np.histogram(a, bins=30, range=(0.0, upper))
    header = ["setting", "layer", "upper_edge", *(f"bin{i}" for i in range(30))]
    rows = [(key, i, edges[-1], *counts) for (key, i), (counts, edges) in histograms.items()]
    report.add_file(write_csv(ctx.out / "histograms.csv", header, rows))

    def draw(fig):
        axes = fig.subplots(len(runs), N_LAYERS, sharey="row")
        for r, key in enumerate(runs):
            for i in range(N_LAYERS):
                counts, edges = histograms[key, i + 1]
                ax = axes[r, i]
                ax.stairs(counts, edges, fill=True, color="tab:blue")
                ax.set_title(f"{i + 1}-layer", fontsize=8)
                ax.tick_params(labelsize=6)
            axes[r, 0].set_ylabel(key, fontsize=8)
    report.add_file(ctx.figure("activation_histograms.png", draw, figsize=(12, 12)))
    return report


main = make_main(run, NAME, __doc__)

if __name__ == "__main__":
    sys.exit(main())
