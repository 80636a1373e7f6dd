"""Learning curves of a run: a matplotlib Figure (and PNG), or a few lines of text for a terminal.

matplotlib is imported only inside :func:`plot_history`; :func:`text_plot` needs NumPy alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .util import atomic_write

__all__ = ["PLOT_HINT", "new_figure", "save_png", "plot_history", "text_plot", "moving_mean"]

#: What to install for the PNG curves.
PLOT_HINT = "pip install -e '.[plot]'"
#: Eighths of a character cell, from empty to full.
_BLOCKS = " ▁▂▃▄▅▆▇█"


def moving_mean(values: Sequence[float], window: int) -> np.ndarray:
    """The means of every ``window`` consecutive values, shape (len(values) - window + 1,)."""
    v = np.asarray(values, dtype=np.float64)
    return np.convolve(v, np.ones(window) / window, mode="valid")


def new_figure(figsize: tuple[float, float] = (8, 5)):
    """A matplotlib Figure on its own Agg canvas (no pyplot, no window, no backend change); None without
    matplotlib. The one figure set-up of scratchnet's plots."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` as a PNG (100 dpi), atomically."""
    atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    return Path(path)


def plot_history(history: Mapping[str, Any], path: str | os.PathLike | None = None):
    """Draw the loss (per step) and accuracy (per evaluation) curves.

    Uses matplotlib's Figure and Agg canvas directly (no pyplot, no window, no backend change); a
    notebook shows the returned Figure inline.

    Parameters
    ----------
    history : mapping
        ``{"loss": [...], "eval": [{"epoch", "train_acc", "test_acc"}, ...]}`` as in ``history.json``.
    path : path-like, optional
        Also write the figure there as a PNG (atomically).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when matplotlib is not installed (``pip install -e '.[plot]'``).
    """
    fig = new_figure((10, 4))
    if fig is None:
        return None
    loss = np.asarray(history["loss"], dtype=np.float64)
    evals = history["eval"]
    ax_loss, ax_acc = fig.subplots(1, 2)
    steps = np.arange(1, loss.size + 1)
    ax_loss.plot(steps, loss, lw=0.5, alpha=0.4, color="tab:blue", label="mini-batch loss")
    window = min(100, loss.size)
    if window > 1:
        ax_loss.plot(steps[window - 1:], moving_mean(loss, window), color="tab:blue",
                     label=f"mean of {window} steps")
    ax_loss.set(xlabel="step", ylabel="loss", title="training loss")
    ax_loss.legend()
    epochs = [e["epoch"] for e in evals]
    ax_acc.plot(epochs, [e["train_acc"] for e in evals], "o-", label="train")
    ax_acc.plot(epochs, [e["test_acc"] for e in evals], "s--", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0.0, 1.0), title="accuracy")
    ax_acc.legend(loc="lower right")
    ax_acc.grid(alpha=0.3)
    if path is not None:
        save_png(fig, path)
    return fig


def _bars(values: np.ndarray, low: float, high: float, height: int) -> list[str]:
    """Rows (top first) of a column chart of ``values`` in [low, high], in eighth blocks."""
    span = high - low if high > low else 1.0
    eighths = np.rint(np.clip((values - low) / span, 0.0, 1.0) * height * 8).astype(int)
    rows = []
    for r in range(height - 1, -1, -1):
        cell = np.clip(eighths - 8 * r, 0, 8)
        rows.append("".join(_BLOCKS[c] for c in cell))
    return rows


def _columns(steps: np.ndarray, values: np.ndarray, last_step: int, width: int) -> np.ndarray:
    """``values`` (known at ``steps``) resampled to ``width`` columns: each column's latest value."""
    at = np.linspace(0, last_step, width)
    idx = np.searchsorted(steps, at, side="right") - 1
    return values[np.clip(idx, 0, values.size - 1)]


def _panel(title: str, cols: np.ndarray, low: float, high: float, height: int, fmt: str) -> list[str]:
    rows = _bars(cols, low, high, height)
    labels = [format(high, fmt)] + [""] * (height - 2) + [format(low, fmt)]
    pad = max(len(s) for s in labels)
    return [title] + [f"{lab:>{pad}} ┤{row}" for lab, row in zip(labels, rows)]


def text_plot(history: Mapping[str, Any], width: int = 80, height: int = 4) -> str:
    """The learning curve as text: test accuracy (0 to 1) and the mean loss, over the steps.

    Parameters
    ----------
    history : mapping
        As for :func:`plot_history`; evaluations need ``step`` and ``test_acc``.
    width : int
        Total width in characters (80 fits a terminal).
    height : int
        Rows per panel, >= 2.

    Returns
    -------
    str
        A few lines (no trailing newline); empty when there is nothing to draw.
    """
    evals, loss = history.get("eval", []), np.asarray(history.get("loss", []), dtype=np.float64)
    last = max(int(loss.size), max((int(e["step"]) for e in evals), default=0))
    cols = max(10, width - 8)
    lines = []
    if evals:
        steps = np.array([e["step"] for e in evals])
        acc = np.array([e["test_acc"] for e in evals], dtype=np.float64)
        title = f"test accuracy: {acc[0]:.4f} at step {steps[0]} -> {acc[-1]:.4f} at step {steps[-1]}"
        lines += _panel(title, _columns(steps, acc, last, cols), 0.0, 1.0, height, ".2f")
    finite = loss[np.isfinite(loss)]
    if finite.size:
        # Each column: the mean loss of its share of the steps.
        chunks = np.array_split(finite, min(cols, finite.size))
        means = np.array([c.mean() for c in chunks])
        title = f"training loss (mean per column): {means[0]:.4f} -> {means[-1]:.4f}"
        lines += _panel(title, means, 0.0, float(means.max()), height, ".2f")
    if lines:
        lines.append(" " * 6 + f"step 0{'':{max(1, cols - 7 - len(str(last)))}}{last}")
    return "\n".join(line[:width].rstrip() for line in lines)
