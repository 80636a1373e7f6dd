"""Tests for scratchnet.plot: the Figure/PNG of a run's curves and the text plot for a terminal."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from scratchnet.plot import plot_history, text_plot


def history(steps=1000, evals=6):
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(steps) / 200) + 0.1 + 0.05 * rng.random(steps)
    at = np.linspace(0, steps, evals).astype(int)
    ev = [{"step": int(s), "epoch": s / 100, "train_acc": 0.1 + 0.85 * s / steps,
           "test_acc": 0.1 + 0.8 * s / steps, "elapsed_s": s / 10} for s in at]
    return {"loss": [float(v) for v in loss], "eval": ev}


def test_text_plot_fits_80_columns_and_shows_the_curves():
    h = history()
    text = text_plot(h)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == "test accuracy: 0.1000 at step 0 -> 0.9000 at step 1000"
    acc_rows = lines[1:5]
    # Accuracy rises: the bottom row is fuller at the right end than at the left.
    left, right = acc_rows[-1].split("┤")[1][:5], acc_rows[-1].split("┤")[1][-5:]
    assert left.count("█") < right.count("█") == 5
    assert acc_rows[0].startswith("1.00 ┤") and acc_rows[-1].startswith("0.00 ┤")
    loss_title = lines[5]
    assert loss_title.startswith("training loss (mean per column): ")
    first, last = (float(v) for v in loss_title.split(": ")[1].split(" -> "))
    assert first > 1.5 > 0.3 > last
    top_loss = lines[6].split("┤")[1]
    assert top_loss.startswith("█") and len(top_loss.rstrip()) < 20  # high only at the start
    assert lines[-1].split() == ["step", "0", "1000"]


def test_text_plot_of_narrow_and_empty_histories():
    assert text_plot({"loss": [], "eval": []}) == ""
    short = text_plot(history(steps=3, evals=2), width=40)
    assert all(len(line) <= 40 for line in short.splitlines())
    nan = text_plot({"loss": [float("nan")] * 5, "eval": [{"step": 0, "test_acc": 0.5}]})
    assert "training loss" not in nan and nan.startswith("test accuracy: 0.5000")


def test_plot_history_returns_a_figure_and_writes_the_png(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = plot_history(history())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert not list(tmp_path.iterdir())
    fig = plot_history(history(), tmp_path / "curves.png")
    assert isinstance(fig, Figure)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_history_without_matplotlib(monkeypatch, tmp_path):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    assert plot_history(history(), tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()


def test_scratchnet_plot_and_trainer_import_with_numpy_alone():
    code = ("import sys\n"
            "for m in ('tqdm', 'tqdm.auto', 'matplotlib', 'threadpoolctl', 'requests', 'dataset'):\n"
            "    sys.modules[m] = None\n"
            "import scratchnet, scratchnet.plot, scratchnet.trainer, scratchnet.checkpoint\n"
            "import scratchnet.runlog\n"
            "h = {'loss': [1.0, 0.5], 'eval': [{'step': 0, 'test_acc': 0.1}]}\n"
            "print(scratchnet.plot.text_plot(h))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("test accuracy: 0.1000")
