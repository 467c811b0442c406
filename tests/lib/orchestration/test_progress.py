"""Live progress: a line per cell in the task log, progress bars collapsed, the report saved as it runs."""

import logging
import threading
import time

import pytest

from stagebook import settings
from stagebook.orchestration.execution import progress
from stagebook.orchestration.execution.operators import StageNotebookOperator
from tests.support.stages import VALUES, stage_notebook

SLOW = (
    "# ticks like a progress bar, then ends its line\n"
    "import time\n"
    "for i in range(1, 9):\n"
    "    print(f'\\rstep {i}/8', end='', flush=True)\n"
    "    time.sleep(0.5)\n"
    "print()"
)


@pytest.fixture
def slow_notebook(tmp_path, monkeypatch, home):
    home.mkdir()
    stage_notebook(
        tmp_path,
        "64-slow",
        ["# markdown\n# A slow stage", "print('first', 'output')", SLOW, "print('last', 'output')"],
    )
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(settings.params_dir()))
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.setattr(progress, "AUTOSAVE_S", 1)
    return tmp_path


def test_a_slow_cell_logs_its_progress_and_its_report_is_saved_while_it_runs(
    slow_notebook, home, caplog
):
    caplog.set_level(logging.INFO)
    op = StageNotebookOperator(task_id="slow", stage="64-slow")
    output = home / "64-slow.try1.ipynb"
    runner = threading.Thread(
        target=op.runner().run, args=(VALUES, output, "d", op.kernel_environ("d"))
    )
    runner.start()
    partial = ""
    while runner.is_alive() and "step 4/8" not in partial:
        time.sleep(0.2)
        partial = output.read_text() if output.exists() else ""
    assert runner.is_alive(), "the slow cell ended before its report showed it under way"
    assert "first output" in partial and "last output" not in partial  # outputs, not sources
    runner.join(60)

    said = [r.getMessage() for r in caplog.records]
    lines = [m for m in said if m.startswith("cell ")]
    assert lines[0] == "cell 1/5 started: ds = '2019-11-20'"
    assert "cell 4/5 started: import time" in lines  # its first line that is code
    assert any(m.startswith("cell 4/5 done in ") for m in lines)
    assert lines[-1].startswith("cell 5/5 done in ") and lines[-1].endswith(
        "print('last', 'output')"
    )
    ticks = [m for m in said if "step " in m]
    assert ticks[-1] == "step 8/8"  # the bar's final state, carriage returns applied
    assert len(ticks) <= 3  # not one line per tick
