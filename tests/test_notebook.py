"""notebooks/tour.ipynb, executed headless in a fresh kernel, so it never rots.

Each code cell must run without an error, and show what its text promises: the equations as Markdown,
the gradient check's table, a hand derivation checked, the comparison, a loss plot, and the clear message of
a bad edit.
"""
import pytest
from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: pip install -e '.[test]'")

NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"


def test_the_tour_runs_and_shows_what_it_says(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "the committed notebook carries no outputs: they are made here"
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]
    shown = [o for cell in outputs for o in cell]
    markdown = [o["data"]["text/markdown"] for o in shown if "text/markdown" in o.get("data", {})]
    lstm, linear, check, hand, comparison = markdown
    assert "\\tanh\\left(c_{t}\\right)" in lstm and "\\text{(B1)}" in lstm
    assert "h_{t} &= o_{t} \\odot c_{t}" in linear, "the edited equation, derived again"
    assert check.startswith("Gradient check of `linear_out`") and "| `W_o` |" in check
    assert "(B2) `d_c`: WRONG" in hand and "an extra factor $1 - \\tanh\\left(c_{t}\\right)^{2}$" in hand, hand
    assert "(B9) `d_o`: correct" in hand
    assert "What changes between lstm, linear_out" in comparison
    assert any("image/png" in o.get("data", {}) for o in shown), "the loss plot"
    assert any("'(' was never closed" in o.get("text", "") for o in shown if o.output_type == "stream")


def test_every_cell_has_an_id():
    """nbformat 4.5 asks each cell for an id (a cell without one warns now and is refused by later versions)."""
    import json

    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(cell.get("id") for cell in cells), [index for index, cell in enumerate(cells) if not cell.get("id")]
