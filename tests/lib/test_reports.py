import re

import nbformat

from stagebook import reports


def test_finding_12_a_report_is_sanitized_and_loads_nothing_from_a_cdn(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(HTML(...))")
    html = "<script>alert('x')</script><b onclick=\"alert('y')\">bold</b>"
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html})]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("<script>alert('z')</script> text")]
    nbformat.write(nb, tmp_path / "20-train.try1.ipynb")
    page = reports.render_html(tmp_path / "20-train.try1.ipynb").read_text()
    assert "<b>bold</b>" in page  # the output is there, its script inert text, no handler
    assert "<script>alert" not in page and "&lt;script&gt;alert('x')" in page
    assert "onclick" not in page
    assert re.findall(r'(?:src|href)="(?:https?:)?//', page) == []


def test_earlier_tries_say_why_each_failed(tmp_path):
    first = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1/0")
    cell.outputs = [nbformat.v4.new_output("error", ename="InvalidLossError", evalue="nan")]
    first.cells = [cell]
    nbformat.write(first, tmp_path / "20-train.try1.ipynb")
    found = reports.earlier_tries(tmp_path / "20-train.try3.ipynb", 3)
    assert found == [
        {
            "try": 1,
            "notebook": str(tmp_path / "20-train.try1.ipynb"),
            "error": "InvalidLossError: nan",
        },
        {"try": 2, "notebook": None, "error": "no archived notebook"},
    ]
    assert reports.earlier_tries(None, 3) == []  # by hand: no archive, no earlier tries
