import multiprocessing
import os
import re

import nbformat

from stagebook import reports
from tests.support.archive import archived_try

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PAYLOADS = [
    "<script>window.pwned = 1</script>",
    '<img src="x" onerror="pwned()">',
    '<a href="javascript:pwned()">click</a>',
    '<iframe src="https://evil.example/pwned"></iframe>',
    '<b onclick="pwned()">bold</b>',
]


def _hostile(path):
    """A notebook with every payload, a JS output, and what a report must keep."""
    nb = nbformat.v4.new_notebook()
    html_out = nbformat.v4.new_code_cell("display(HTML(...))")
    html_out.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "".join(PAYLOADS)})
    ]
    js_out = nbformat.v4.new_code_cell("display(Javascript(...))")
    js_out.outputs = [
        nbformat.v4.new_output("display_data", data={"application/javascript": "pwned()"})
    ]
    frame = nbformat.v4.new_code_cell("df")
    table = "<table class='dataframe'><thead><tr><th>user</th></tr></thead><tbody><tr><td>u1</td></tr></tbody></table>"
    frame.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": table})]
    plot = nbformat.v4.new_code_cell("plt.plot()")
    plot.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG})]
    heading = nbformat.v4.new_markdown_cell("# Loss per epoch\n\n<script>pwned()</script> text")
    nb.cells = [heading, html_out, js_out, frame, plot]
    nbformat.write(nb, path)
    return path


def test_finding_12_a_report_is_sanitized_and_loads_nothing_from_a_cdn(tmp_path):
    page = reports.render_html(_hostile(tmp_path / "20-train.try1.ipynb")).read_text()
    assert "pwned" not in page  # no script, handler, javascript: link, JS output or iframe
    assert "<script" not in page.lower() and "<iframe" not in page.lower()
    assert "<b>bold</b>" in page  # the output is there, without its handler
    assert re.search(r"<h1[^>]*>Loss per epoch", page)  # headings render, not as escaped text
    assert "<th>user</th>" in page and "<td>u1</td>" in page  # a DataFrame stays a table
    assert f"data:image/png;base64,{PNG}" in page  # a plot stays
    assert re.findall(r'(?:src|href)="(?:https?:)?//', page) == []


def test_a_running_try_renders_with_a_banner(tmp_path):
    nb = nbformat.read(_hostile(tmp_path / "20-train.try1.ipynb"), as_version=4)
    page = reports.html_of(nb, banner="running: the notebook so far")
    assert "running: the notebook so far" in page and "pwned" not in page


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


def _finish_tries(home, phase, count):
    os.environ["STAGEBOOK_HOME"] = str(home)
    for number in range(1, count + 1):
        archived_try(home, phase=phase, number=number)
        reports.write_index()


def test_two_tasks_finishing_at_once_both_stay_in_the_index(home):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_finish_tries, args=(home, p, 15)) for p in ("prod", "beta")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    index = (home / "reports" / "index.html").read_text()
    assert index.count("<tr><td>dag_a</td>") == 30  # 15 tries of each phase, none lost


def test_a_try_whose_process_died_is_marked_lost_by_the_next(home):
    first = archived_try(home, number=1, state="running")
    second = archived_try(home, number=2, state="running")
    assert reports.mark_lost(second, 2) == [1]
    info = reports.read_sidecar(first.with_suffix(".json"))
    assert info["state"] == "lost" and "process died" in info["error"]
    assert reports.mark_lost(second, 2) == []
