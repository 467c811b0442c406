"""Finding 2: a secret reaches no archived notebook, rendering, record, XCom or message."""

import dataclasses
import json
import logging
from types import SimpleNamespace
from urllib.parse import quote

import jupytext
import nbformat
import pendulum
import pytest

from stagebook import params, settings, storage
from stagebook.errors import StageFailed
from stagebook.orchestration.execution import secrets
from stagebook.orchestration.execution.operators import StageNotebookOperator
from stagebook.orchestration.notifying import channels
from stagebook.orchestration.notifying.messages import first_lines
from tests.support.receivers import HttpReceiver
from tests.support.samples import MESSAGE
from tests.support.stages import stage_notebook

PASSWORD = "Kn0wn-S3cret/P4ss+word"
FERNET = "FernetKeyOfTheWorker0123456789"
CELLS = [
    "import json, os\nprint(json.dumps(dict(os.environ)))",
    "print(os.environ['AIRFLOW_CONN_LEAKY'])",
    "from airflow.sdk import Connection\n"
    "conn = Connection.from_json(os.environ['AIRFLOW_CONN_LEAKY'], conn_id='leaky')\n"
    "print(conn.get_uri())\nconn.password",
    "import stagebook\nstagebook.record('leak', {'conn': os.environ['AIRFLOW_CONN_LEAKY']})",
    "if fail:\n    raise ValueError('cannot connect with ' + conn.password)",
]


def test_the_kernel_gets_what_it_needs_and_the_declared_connections_only():
    worker = {
        "PATH": "/bin",
        "STAGEBOOK_HOME": "/archive",
        "LC_ALL": "C.UTF-8",
        "AIRFLOW__CORE__FERNET_KEY": FERNET,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:pw@db/airflow",
        "AIRFLOW_CONN_OTHER": '{"password": "x"}',
    }
    got = secrets.kernel_environ({"AIRFLOW_CONN_LEAKY": "{}"}, worker)
    assert got == {
        "PATH": "/bin",
        "STAGEBOOK_HOME": "/archive",
        "LC_ALL": "C.UTF-8",
        "AIRFLOW_CONN_LEAKY": "{}",
        "TF_CPP_MIN_LOG_LEVEL": "1",  # TensorFlow's INFO lines stay out of the outputs
    }
    assert secrets.kernel_environ({}, {"TF_CPP_MIN_LOG_LEVEL": "0"})["TF_CPP_MIN_LOG_LEVEL"] == "0"


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A project whose one stage prints its environment and its connection every way it can."""
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "stagebook", "display_name": "s", "language": "python"}
    parameters = nbformat.v4.new_code_cell(
        "ds = '2019-11-20'\nphase = 'common'\ntry_number = 1\nrun_id = 'm'\noverrides = {}\n"
        "fail = False"
    )
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *map(nbformat.v4.new_code_cell, CELLS)]
    jupytext.write(nb, stage_notebook(root, "63-leak", []), fmt="py:percent")
    return root


def execute(leaky, home, monkeypatch, fail):
    monkeypatch.setenv(
        "STAGEBOOK_PARAMS_RECOMMENDATIONS", str(settings.params_dir())
    )  # the project's own
    monkeypatch.setenv("STAGEBOOK_ROOT", str(leaky))
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", FERNET)
    conn = {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "password": PASSWORD}
    monkeypatch.setenv("AIRFLOW_CONN_LEAKY", json.dumps(conn))
    pushed = {}
    ti = SimpleNamespace(
        try_number=1,
        xcom_pull=lambda **_: None,
        xcom_push=lambda key, value: pushed.update({key: value}),
    )
    context = {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="leaky_dag", timezone=pendulum.timezone("Asia/Tokyo")),
        "dag_run": SimpleNamespace(conf={"ds": "2019-11-20"}),
        "run_id": "manual__1",
    }
    op = StageNotebookOperator(
        task_id="leak", stage="63-leak", connections=["leaky"], parameters={"fail": fail}
    )
    failure = None
    try:
        op.execute(context)
    except StageFailed as exc:
        failure = exc
    archived = storage.report_path(
        "leaky_dag", pendulum.date(2019, 11, 20), "common", "manual__1", "63-leak", 1
    )
    return archived, pushed, failure


def assert_no_secret(text):
    for secret in (PASSWORD, quote(PASSWORD, safe=""), FERNET):
        assert secret not in text


def test_finding_2_no_secret_in_the_archived_notebook_its_html_its_records_or_xcoms(
    leaky, home, monkeypatch, caplog
):
    with caplog.at_level(logging.WARNING):
        archived, pushed, failure = execute(leaky, home, monkeypatch, fail=False)
    assert failure is None
    notebook = archived.read_text()
    assert "***" in notebook and "STAGEBOOK_HOME" in notebook  # it did print, redacted
    assert "AIRFLOW__CORE__FERNET_KEY" not in notebook  # the kernel never had it
    assert_no_secret(notebook)
    assert_no_secret(archived.with_suffix(".html").read_text())
    assert_no_secret(json.dumps(pushed))
    assert pushed["leak"]["conn"].count("***") == 1
    redactions = [r.getMessage() for r in caplog.records if "Redacted a secret" in r.getMessage()]
    assert redactions and all("cell" in m for m in redactions)
    assert_no_secret(caplog.text)


def test_finding_2_no_secret_in_the_failure_or_its_messages(leaky, home, monkeypatch):
    archived, _, failure = execute(leaky, home, monkeypatch, fail=True)
    assert failure is not None and "cannot connect with ***" in str(failure)
    assert_no_secret(str(failure) + archived.read_text())
    with HttpReceiver() as http:
        monkeypatch.setenv(
            "AIRFLOW_CONN_STAGEBOOK_WEBHOOK",
            json.dumps({"conn_type": "http", "host": f"{http.url}/webhook"}),
        )
        config = params.load().notifications.model_copy(update={"channels": ["webhook"]})
        leaked = f"ValueError: cannot connect with {PASSWORD}"  # as an unredacted error would say
        channels.send(dataclasses.replace(MESSAGE, error=first_lines(leaked)), config)
    [body] = http.bodies("/webhook")
    assert "cannot connect with ***" in body["error"]
    assert_no_secret(json.dumps(body))
