"""A new home's metastore: a copy of the one an earlier new home's migration made."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ENSURE = "from stagebook.orchestration.commands import home; home.ensure_metastore()"
AIRFLOW = Path(sys.executable).with_name("airflow")


def _env(tmp_path: Path, name: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK_"))}
    return {
        **kept,
        "STAGEBOOK_HOME": str(tmp_path / name),
        "AIRFLOW_HOME": str(tmp_path / name / "airflow"),
        "STAGEBOOK_METASTORE_TEMPLATES": str(tmp_path / "templates"),
    }


def _run(tmp_path: Path, name: str, *command: str) -> str:
    result = subprocess.run(command, env=_env(tmp_path, name), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _ensure(tmp_path: Path, name: str) -> str:
    return _run(tmp_path, name, sys.executable, "-c", ENSURE)


def _content(tmp_path: Path, name: str, *, with_times: bool) -> dict:
    """Each table's schema and rows; without ``with_times``, not the moments rows were written."""
    db = sqlite3.connect(tmp_path / name / "airflow" / "airflow.db")
    found = {}
    for table, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"):
        columns = [
            column
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")')
            if with_times or kind.upper() not in ("TIMESTAMP", "DATETIME")
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        found[table] = (sql, sorted(map(repr, db.execute(f'SELECT {listed} FROM "{table}"'))))
    return found


def test_a_new_home_copies_the_metastore_of_the_first_one_and_airflow_finds_it_migrated(tmp_path):
    assert "created the Airflow metastore" in _ensure(tmp_path, "first")  # migrates: no template
    assert len(list((tmp_path / "templates").glob("*.db"))) == 1
    assert "created the Airflow metastore" in _ensure(tmp_path, "second")
    # a copy, to the moment each row was written; a migration would have written them anew
    second = _content(tmp_path, "second", with_times=True)
    assert second == _content(tmp_path, "first", with_times=True)
    assert second["log_template"][1] and second["slot_pool"][1]
    _run(tmp_path, "second", str(AIRFLOW), "db", "check-migrations", "-t", "0")
    # what `stagebook setup` makes, migrating for real
    _run(
        tmp_path, "migrated", sys.executable, "-m", "stagebook.orchestration.commands.cli", "setup"
    )
    assert _content(tmp_path, "migrated", with_times=False) == _content(
        tmp_path, "second", with_times=False
    )


def test_a_template_that_is_not_a_metastore_is_migrated_over_and_replaced(tmp_path):
    _ensure(tmp_path, "first")
    (template,) = (tmp_path / "templates").glob("*.db")
    template.write_bytes(b"not a database")
    assert "created the Airflow metastore" in _ensure(tmp_path, "second")
    _run(tmp_path, "second", str(AIRFLOW), "db", "check-migrations", "-t", "0")
    replaced = sqlite3.connect(template)
    assert replaced.execute("SELECT count(*) FROM sqlite_master WHERE name = 'dag'").fetchone() == (
        1,
    )
