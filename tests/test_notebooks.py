"""The notebooks in notebooks/ run top to bottom in a fresh kernel, and are committed without outputs.

Each notebook runs on its quick setting (SCRATCHNET_NOTEBOOK_QUICK=1, read in its first cell) in a
kernel of this very interpreter (a kernel spec written for the test, so no Jupyter set-up is needed
beyond ``pip install -e '.[test]'``), reading the real MNIST offline. A cell that raises fails the test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Imported, not importorskip'd: if the test extra ever lost them, CI would fail here rather than
# silently stop running the notebooks.
import nbclient
import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "scratchnet-notebook-test"
#: Seconds a single cell may take on a loaded machine before the run counts as hung.
CELL_TIMEOUT = 300


def test_three_notebooks_at_least():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 3, f"expected the three notebooks (chapter 4, homework, reproduction), got {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs; clear them "
                       "(jupyter nbconvert --clear-output --inplace) before committing")


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, real_mnist):
    """A kernel spec for sys.executable on JUPYTER_PATH, and the environment the notebooks run in."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    # Plain tracebacks: a failing cell's error reads cleanly in the CI log.
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--InteractiveShell.colors=nocolor"]
    spec = {"argv": argv,
            "display_name": "scratchnet (tests)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    cache = tmp_path_factory.mktemp("mnist-cache")
    with real_mnist(cache), pytest.MonkeyPatch.context() as mp:
        # Kernel spec, connection files and IPython's profile in the test folder: nothing in the home folder.
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        mp.setenv("IPYTHONDIR", str(root / "ipython"))
        mp.setenv("SCRATCHNET_NOTEBOOK_QUICK", "1")
        # The notebooks import their helper module _nb from notebooks/ while they run elsewhere.
        path = [str(NOTEBOOK_DIR), os.environ.get("PYTHONPATH", "")]
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))
        # As in a user's Jupyter: ipykernel picks the inline backend when none is forced.
        mp.delenv("MPLBACKEND", raising=False)
        mp.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
        yield


def _execute(nb, cwd: Path) -> None:
    """Run every cell of ``nb`` in a fresh kernel in ``cwd``, filling in the outputs."""
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError, naming the cell, when one fails


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, kernel_env, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    _execute(nb, tmp_path)
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, f"{path.name}: no figure was shown inline"


def test_a_failing_cell_fails_the_run(kernel_env, tmp_path: Path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('broken cell')")])
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="broken cell"):
        _execute(nb, tmp_path)
