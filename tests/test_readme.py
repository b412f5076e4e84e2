"""The README's Python examples run as written, each in a fresh notebook kernel, and print nothing
but what they show: no error, no TensorFlow start-up lines."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from helpers import TF_NOISE, environ_without_tf_log_level, notebook_streams
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BLOCKS = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())


def run_in_a_fresh_kernel(code: str, then: str, folder: Path, capfd) -> nbformat.NotebookNode:
    """Execute ``code`` and then ``then`` (a cell that reads back what ``code`` left) in a new kernel
    started in ``folder`` as a student would start it (no ``TF_CPP_MIN_LOG_LEVEL``)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(then)])
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env=environ_without_tf_log_level())
    errors = [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(e.traceback) for e in errors)
    # The kernel writes to the standard error it inherited from this process: a student's terminal.
    terminal = capfd.readouterr().err
    assert not TF_NOISE.search(terminal), terminal
    assert not TF_NOISE.search(notebook_streams(nb)), notebook_streams(nb)
    return nb


def widget_views(cell) -> int:
    return sum(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)


def test_the_readme_has_its_two_python_examples():
    assert len(BLOCKS) == 2, BLOCKS
    assert "ModelState.from_default()" in BLOCKS[0] and 'load_model_file("my_model.keras")' in BLOCKS[1]


@pytest.mark.slow
@pytest.mark.usefixtures("cifar_dir")
def test_the_shipped_model_example_runs(tmp_path, capfd):
    nb = run_in_a_fresh_kernel(BLOCKS[0], "print(state.index, len(state.images))", tmp_path, capfd)
    assert widget_views(nb.cells[0]) == 3  # ImagePicker, FeatureGrid, SoftmaxChart
    assert notebook_streams(nb) == "42 10000\n"


@pytest.mark.slow
def test_the_own_model_example_runs_and_defines_every_name_it_uses(tmp_path, capfd, cifar_dir, cifar_test):
    readback = "import numpy\nnumpy.save('state_images.npy', state.images)\nprint(state.class_names, len(state.images))"
    nb = run_in_a_fresh_kernel(BLOCKS[1], readback, tmp_path, capfd)
    assert widget_views(nb.cells[0]) == 2  # ImagePicker, SoftmaxChart
    assert (tmp_path / "my_model.keras").is_file()
    # It ends on its one photo, which is the first cat or dog of CIFAR-10's test set.
    assert notebook_streams(nb) == "('cat', 'dog') 1\n"
    images, labels, _ = cifar_test
    first = images[np.flatnonzero((labels == 3) | (labels == 5))[0]]
    np.testing.assert_array_equal(np.load(tmp_path / "state_images.npy"), first[None])
