import gc
import os
import subprocess
import sys

import pytest


def test_finding_0_a_fresh_archive_gets_its_metastore_and_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["STAGEBOOK_HOME"] = str(tmp_path / "new")
    command = [
        sys.executable,
        "-m",
        "stagebook.orchestration.commands.cli",
        "run",
        "--ds",
        "2019-11-20",
    ]
    command += ["--only", "run_summary"]  # the others marked success: the metastore is the point
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    created = [line for line in result.stdout.splitlines() if "metastore" in line]
    assert created == [
        f"stagebook: created the Airflow metastore in {tmp_path / 'new' / 'airflow'}"
    ]
    assert "OperationalError" not in result.stdout + result.stderr


def test_the_stagebook_process_exits_with_main_s_code_and_leaves_its_objects_to_the_exit(
    monkeypatch,
):
    from importlib.metadata import entry_points

    from stagebook.orchestration.commands import cli

    (script,) = entry_points(group="console_scripts", name="stagebook")
    assert script.value == "stagebook.orchestration.commands.cli:entry"
    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        with pytest.raises(SystemExit) as exited:
            cli.entry()
        assert exited.value.code == 3
        assert gc.get_freeze_count() > 0  # not collected at exit
    finally:
        gc.unfreeze()
