"""Item 1 and the leak probe: a stage that prints its environment and its connection leaks nothing.

Everything a kernel prints reaches the task log through the same redaction as the
archive; the password is nowhere: not in the archive, the metastore, a task log
file, or what ``stagebook run`` printed.
"""

from urllib.parse import quote

import pytest

from tests.support import project

SECRETS = (project.PASSWORD, quote(project.PASSWORD, safe=""))


@pytest.fixture(scope="module")
def probed(tiny_project):
    root, home = tiny_project
    done = project.run(project.environ(root, home), ds="2019-11-18")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home, done.stdout + done.stderr


def leaks(data: bytes) -> list[str]:
    return [secret for secret in SECRETS if secret.encode() in data]


def test_item_1_a_connection_password_never_reaches_the_task_log(probed):
    home, _ = probed
    [log] = (home / "airflow" / "logs").glob("dag_id=*/run_id=*/task_id=wait/attempt=1.log")
    text = log.read_text()
    assert "***" in text and "STAGEBOOK_HOME" in text  # the cell's output is there, redacted
    assert leaks(text.encode()) == []


def test_the_leak_probe_finds_no_secret_in_the_archive_metastore_task_logs_or_cli_output(probed):
    home, printed = probed
    assert "STAGEBOOK_HOME" in printed  # the CLI did show the stage's output
    assert leaks(printed.encode()) == []
    found = {}
    for path in home.rglob("*"):
        if path.is_file() and not path.name.endswith(".out"):
            found.update({str(path): hit for hit in leaks(path.read_bytes())})
    assert found == {}
    assert (home / "airflow" / "airflow.db").exists()  # the metastore was among them
