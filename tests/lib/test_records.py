import json

import nbformat
import pytest
from papermill import execute_notebook

from stagebook import records
from stagebook.errors import RecordError


def test_record_is_read_back_from_an_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "stagebook",
        "display_name": "stagebook",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import stagebook\nstagebook.record('model_signature', 'ffm.TH.201910241414_20191023')"
        ),
        nbformat.v4.new_code_cell(
            "stagebook.record('losses', [{'epoch': 1, 'loss': 0.5}])\nstagebook.record('n', 1)"
        ),
        nbformat.v4.new_code_cell("stagebook.record('n', 2)"),
    ]
    source, output = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    execute_notebook(str(source), str(output), progress_bar=False)
    assert records.read_records(output) == {
        "model_signature": "ffm.TH.201910241414_20191023",
        "losses": [{"epoch": 1, "loss": 0.5}],
        "n": 2,
    }
    text = json.dumps(json.loads(output.read_text()))
    assert "record model_signature = " in text  # a reviewer sees it in the rendered notebook


def test_record_refuses_what_json_cannot_carry():
    with pytest.raises(RecordError, match="must be JSON"):
        records.record("loss", float("nan"))
    with pytest.raises(RecordError, match="identifier"):
        records.record("model-signature", "x")
