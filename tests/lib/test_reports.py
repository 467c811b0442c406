import json
import multiprocessing
import os
import re

import nbformat

from stagebook import index, reports, sidecars, tries
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
    found = tries.earlier_tries(tmp_path / "20-train.try3.ipynb", 3)
    assert found == [
        {
            "try": 1,
            "notebook": str(tmp_path / "20-train.try1.ipynb"),
            "error": "InvalidLossError: nan",
        },
        {"try": 2, "notebook": None, "error": "no archived notebook"},
    ]
    assert tries.earlier_tries(None, 3) == []  # by hand: no archive, no earlier tries


def _finish_tries(home, phase, count):
    os.environ["STAGEBOOK_HOME"] = str(home)
    for number in range(1, count + 1):
        archived_try(home, phase=phase, number=number)
        index.write_index()


def test_two_tasks_finishing_at_once_both_stay_in_the_index(home):
    context = multiprocessing.get_context("spawn")  # fork after JAX threads may deadlock
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
    assert sidecars.mark_lost(second, 2) == [1]
    info = sidecars.read_sidecar(first.with_suffix(".json"))
    assert info["state"] == "lost" and "process died" in info["error"]
    assert sidecars.mark_lost(second, 2) == []


# --- a report that reads like a report --------------------------------------------------

TF_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795828982.787674    3738 port.cc:153] oneDNN custom operations are on.\n"
    "2024-01-02 03:04:05.678901: I tensorflow/core/platform/cpu_feature_guard.cc:210] AVX2\n"
    "INFO:tensorflow:Assets written to: /tmp/model\n"
)
TF_KEPT = (
    "W0000 00:00:1795828982.8 3738 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"
    "/lib/keras/src/trainers/trainer.py:12: UserWarning: the model is not built\n"
)


def test_library_info_lines_are_dropped_and_warnings_kept():
    assert reports.quiet(TF_NOISE) == ""
    assert reports.quiet(TF_NOISE + TF_KEPT + "loss 0.5\n") == TF_KEPT + "loss 0.5\n"


def test_the_reviewers_rendering_folds_code_drops_noise_and_shows_records_once(tmp_path):
    from stagebook.records import MIME

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import tensorflow\nstagebook.record('metrics', m)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=TF_NOISE),
        nbformat.v4.new_output("stream", name="stderr", text=TF_KEPT),
        nbformat.v4.new_output(
            "display_data",
            data={MIME: {"name": "metrics", "value": 1}, "text/plain": "record metrics = 1"},
        ),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Training"), cell]
    page = reports.html_of(nb)
    assert "oneDNN" not in page and "Cannot dlopen" in page
    assert "record metrics" not in page
    assert page.count('<details class="stagebook-code">') == 1  # the code cell, not the markdown
    assert '<details class="stagebook-code" open' not in page  # folded until clicked
    assert "record metrics" in json.dumps(nb.cells[1].outputs)  # the notebook itself keeps all
