"""A notebook saved while the playground is still live (no Done), as a real kernel wrote it.

The notebook runs in a fresh kernel through nbclient without storing widget state (JupyterLab's
default), so its playground outputs are the widget view and its static copy, as a notebook saved
mid-session holds them. Its nbconvert HTML (what GitHub and a static export show) must show the
prompt and the settings, and no "Error displaying widget" nor a ``VBox(`` repr. The browser
half (JupyterLab reopening it) is in ``test_browser.py``.
"""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from llm_magic.widgets.frontend import STATIC_CLASS, WIDGET_VIEW_MIME
from tests.notebooks.refresh_outputs import KERNEL_ENV, environ, notebook_workdir
from tests.notebooks.test_browser import STORY_CONFIG, _check_saved_outputs

PROMPT = "Once upon a time, there was a little dog named"
CELLS = ["%load_ext llm_magic", STORY_CONFIG, f"%%llm_prompt --ui --max_new_tokens 12 --temperature 0.4\n{PROMPT}"]


def test_nbconvert_html_of_a_notebook_saved_with_the_live_playground(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    from nbconvert import HTMLExporter

    notebook = new_notebook(cells=[new_code_cell(source) for source in CELLS],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    with notebook_workdir() as workdir, environ(**KERNEL_ENV):
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", store_widget_state=False,
                                resources={"metadata": {"path": str(workdir)}}).execute()
    path = tmp_path / "saved-live.ipynb"
    nbformat.write(notebook, path)

    outputs = notebook.cells[-1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"], outputs
    view, copy = outputs[0].data, outputs[1].data
    assert WIDGET_VIEW_MIME in view and view[WIDGET_VIEW_MIME]["model_id"], "not a live widget output"
    assert WIDGET_VIEW_MIME not in copy and STATIC_CLASS in copy["text/html"]
    assert "widgets" not in notebook.metadata  # no widget state: the view has no model once saved
    _check_saved_outputs(path)

    page, _ = HTMLExporter().from_filename(str(path))
    assert "Error displaying widget" not in page and "VBox(" not in page
    # The output, not the cell's source (which holds the prompt and the flags too).
    shown = page[page.index("llm-magic-playground"):]
    assert PROMPT in shown  # no character of it needs escaping
    assert "max_new_tokens: 12" in shown and "temperature: 0.4" in shown and "do_sample: false" in shown
