"""What the notebooks share: where they write, showing a figure, finding the experiments.

Each name that may move lives here once, so that a move is fixed in this file and not in every notebook:
the plotting helper (``plot_history``) and the package of the textbook experiments (``TEXTBOOK``).
"""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType

#: The package of the book's experiments (scripts/textbook/, installed as ``scratchnet_book``).
TEXTBOOK = "scratchnet_book"

#: Where the notebooks write their runs and figures (``runs/`` is ignored by git).
RUNS = Path("runs") / "notebooks"


def plot_history(history, path):
    """scratchnet's plot of a training history (loss and accuracy curves), written to ``path``.

    Returns the matplotlib Figure of :func:`scratchnet.plot.plot_history` (None without matplotlib).
    The folder of ``path`` is made first.
    """
    from scratchnet.plot import plot_history as helper

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return helper(history, path)


def show(drawn) -> None:
    """Show a figure inline: a PNG path, a matplotlib Figure, or None (matplotlib missing)."""
    from IPython.display import Image, display

    if drawn is None:
        print("no figure: matplotlib is not installed (pip install -e '.[plot]')")
    elif isinstance(drawn, (str, os.PathLike)):
        display(Image(filename=str(drawn)))
    elif hasattr(drawn, "savefig"):
        # A bare Figure has no inline display of its own unless pyplot's inline backend made it.
        buf = io.BytesIO()
        drawn.savefig(buf, format="png", dpi=100)
        display(Image(data=buf.getvalue(), format="png"))
    else:
        raise TypeError(f"drawn: expected a PNG path, a matplotlib Figure or None, "
                        f"got {type(drawn).__name__}")


def textbook(name: str = "") -> ModuleType:
    """The textbook package (``textbook("")``) or one of its modules, e.g. ``textbook("ch04_train")``."""
    return importlib.import_module(f"{TEXTBOOK}.{name}" if name else TEXTBOOK)
