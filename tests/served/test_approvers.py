"""Who may answer an approval: the approvers the pipeline names, through Airflow's REST HITL endpoint.

The params name ``validation.approvers: [rita]``, so the gate's task has
``assigned_users`` rita. A real ``stagebook run`` waits in ``prod.approve``; a
real api-server on the same metastore answers. A viewer, an editor who is not
an approver, an anonymous call and a forged token are each refused, and the
task keeps waiting; rita, through ``stagebook approve``, is accepted, and the
run publishes with her name on the approval.
"""

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import quote

import jwt
import pytest

from tests.support import DAG_ID, approvals
from tests.support.runs import xcom
from tests.support.servers import served, stop

ANSWER = {"chosen_options": ["Approve"], "params_input": {"comment": "not mine to give"}}


@pytest.fixture(scope="module")
def waiting(airflow_db, module_params, tmp_path_factory):
    module_params({**approvals.SOFT, "validation.approvers": ["rita"]})
    run = approvals.start(tmp_path_factory.mktemp("run") / "out.txt")
    try:
        yield run
    finally:
        stop(run.proc, signal.SIGINT)


@pytest.fixture(scope="module")
def server(waiting):
    with served("api-server") as server:
        yield server


def _patch(server, waiting, token):
    """PATCH the gate's HITL detail with ``token`` (None: anonymous); return the HTTP status."""
    path = (
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(waiting.run_id, safe='')}"
        "/taskInstances/prod.approve/-1/hitlDetails"
    )
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server.base + path, json.dumps(ANSWER).encode(), headers, method="PATCH"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def _forged(server):
    """A token for ``rita`` signed with a key that is not the api-server's."""
    claims = jwt.decode(server.token("rita"), options={"verify_signature": False})
    return jwt.encode(claims, "not-the-secret-of-this-airflow-" * 3, algorithm="HS512")


@pytest.mark.parametrize("who", ["viewer", "editor", "anonymous", "forged"])
def test_an_answer_from_anyone_but_an_approver_is_refused_and_the_gate_keeps_waiting(
    server, waiting, who
):
    token = {
        "viewer": lambda: server.token("viewer"),
        "editor": lambda: server.token("editor"),  # may edit the DAG, is not an approver
        "anonymous": lambda: None,
        "forged": lambda: _forged(server),
    }[who]()
    status = _patch(server, waiting, token)
    # Airflow answers 401 to a call without credentials, 403 to every other refusal
    assert status == (401 if who == "anonymous" else 403)
    assert approvals.gate_state(waiting.run_id) in approvals.WAITS


def test_the_approver_answers_with_stagebook_approve_and_the_run_publishes(
    server, waiting, tmp_path
):
    password = tmp_path / "rita.password"
    password.write_text(server.passwords()["rita"])
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "approve"]
    done = subprocess.run(
        [
            *command,
            waiting.run_id,
            "prod.approve",
            "--url",
            server.base,
            "--username",
            "rita",
            "--password-file",
            str(password),
            "--comment",
            "looked at the report",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"approved prod.approve in run {waiting.run_id} as rita" in done.stdout
    waiting.proc.wait(300)
    assert waiting.proc.returncode == 0, waiting.output()
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.run_id == waiting.run_id)).one()
    decided = xcom(run, "prod.approve", "approval")
    assert (decided["decision"], decided["by"]) == ("approved", "rita")


def test_approve_without_a_user_says_how_to_name_one(server, waiting):
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "approve"]
    done = subprocess.run(
        [
            *command,
            "manual__x",
            "prod.approve",
            "--url",
            server.base,
            "--pipeline",
            "recommendations",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert f"{server.base}: say who you are: --username NAME" in done.stderr
