"""Training diverges on try 1 and succeeds on try 2 with the decayed learning rate."""

import datetime as dt
import json

import pytest

from stagebook import records
from tests.support import PIPELINE, TINY
from tests.support.receivers import messages
from tests.support.runs import injected, outputs_text, reports, run_dag, what, xcom

DS = dt.date(2019, 11, 16)


@pytest.fixture(scope="module")
def run(airflow_db, home, fast_retries, module_receivers):
    # A learning rate far too high for the data: the factors overflow and the loss becomes nan.
    overrides = {**TINY, "train.base_lr": 1e24, "train.lr_decay": 1e-26}
    return run_dag(DS, {"phases": ["prod"], "overrides": overrides})


@pytest.fixture(scope="module")
def folder(run, home):
    return reports(home, DS, "prod")


def test_the_run_succeeds_on_the_second_try_of_train(run):
    assert run.state == "success", run.states
    train = next(ti for ti in run.dag_run.get_task_instances() if ti.task_id == "prod.train")
    assert train.try_number == 2


def test_both_tries_are_archived_and_the_first_says_why_it_failed(run, folder):
    first, second = folder / "20-train.try1.ipynb", folder / "20-train.try2.ipynb"
    for archived in (first, second):
        assert archived.exists() and archived.with_suffix(".html").exists()
    assert "InvalidLossError" in outputs_text(first)
    assert "with learning rate 1e+24" in outputs_text(first)


def test_the_second_try_uses_the_decayed_rate_and_shows_the_first_tries_error(run, folder):
    second = folder / "20-train.try2.ipynb"
    assert "try_number = 2" in injected(second)
    report = outputs_text(second)
    assert "try 2: learning rate 0.01 = base_lr 1e+24 * lr_decay 1e-26 ** 1" in report
    assert "InvalidLossError: training loss became" in report
    assert xcom(run.dag_run, "prod.train", "metrics")["learning_rate"] == pytest.approx(0.01)


def test_inference_uses_the_model_of_the_second_try(run, folder, home):
    signature = xcom(run.dag_run, "prod.train", "model_signature")
    assert signature == records.read_records(folder / "20-train.try2.ipynb")["model_signature"]
    assert xcom(run.dag_run, "prod.inference", "model_signature") == signature
    assert f'model_signature = "{signature}"' in injected(folder / "30-inference.try1.ipynb")
    described = json.loads(
        (home / "data" / PIPELINE / "models" / "prod" / signature / "signature.json").read_text()
    )
    assert described["try_number"] == 2
    assert described["metrics"]["learning_rate"] == pytest.approx(0.01)
    assert {"keras", "jax", "numpy"} <= set(described["libraries"])


EXPECTED = [
    ("success", "input_tables", 1),
    ("success", "select_phase", 1),
    *[
        ("success", f"prod.{n}", 1)
        for n in ("features", "inference", "validate", "approve", "publish")
    ],
    ("retry", "prod.train", 1),
    ("success", "prod.train", 2),
    ("success", None, None),
    ("summary", None, None),
]


@pytest.fixture(scope="module")
def received(run, module_receivers):
    http, smtp = module_receivers
    return messages(http, smtp)


@pytest.mark.parametrize("channel", ["slack", "webhook", "email"])
def test_each_channel_gets_every_task_event_the_run_and_the_summary(received, channel):
    assert sorted(map(what, received[channel]), key=str) == sorted(EXPECTED, key=str)
    for m in received[channel]:
        phase = "common" if m["task"] in ("input_tables", "select_phase") else "prod"
        assert (m["ds"], m["phase"]) == (str(DS), phase), m
        assert m["report"].exists(), m


@pytest.mark.parametrize("channel", ["slack", "webhook", "email"])
def test_the_retry_and_the_success_link_their_own_tries_reports(received, folder, channel):
    retry = next(m for m in received[channel] if m["event"] == "retry")
    assert retry["report"] == (folder / "20-train.try1.html").resolve()
    assert "InvalidLossError" in retry["text"] and "retries left: 1" in retry["text"]
    success = next(m for m in received[channel] if what(m) == ("success", "prod.train", 2))
    assert success["report"] == (folder / "20-train.try2.html").resolve()


@pytest.mark.parametrize("channel", ["slack", "webhook", "email"])
def test_the_summary_lists_each_stage_with_its_tries_and_report(received, channel):
    summary = next(m for m in received[channel] if m["event"] == "summary")
    assert "prod.train: success, tries 2" in summary["text"]
    assert len(summary["summary_reports"]) == 6  # input_tables and five prod stages
    assert all(path.exists() for path in summary["summary_reports"])


@pytest.mark.parametrize("channel", ["slack", "webhook", "email"])
def test_finding_10_a_success_says_no_retries_left_and_the_summary_names_only_prod(
    received, channel
):
    success = next(m for m in received[channel] if what(m) == ("success", "prod.train", 2))
    assert "retries left: 0" in success["text"]
    summary = next(m for m in received[channel] if m["event"] == "summary")
    assert "prod.publish: success" in summary["text"] and "beta." not in summary["text"]


# --- replaying try 1 in Jupyter ----------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(run, folder):
    from stagebook.orchestration.commands import replay

    found = replay.find(run.dag_run.run_id, "prod.train", try_number=1)
    path = replay.write(found)
    stopped = replay.until_failure(path, found.dag_id)
    yield path, stopped
    if stopped.pid:  # the kernel is independent of this process: stop it by its PID
        import os
        import signal

        os.kill(stopped.pid, signal.SIGTERM)


def test_replay_writes_try_1_with_its_exact_injected_parameters(run, folder, replayed):
    path, _ = replayed
    assert injected(path) == injected(folder / "20-train.try1.ipynb")
    assert "try_number = 1" in injected(path)


def test_replay_until_failure_stops_at_the_same_cell_with_the_same_error(folder, replayed):
    from stagebook.orchestration.commands import replay

    path, stopped = replayed
    archived = replay.failing_cell(folder / "20-train.try1.ipynb")
    assert archived is not None and archived[1] == "InvalidLossError"
    assert replay.failing_cell(path) == archived
    assert (stopped.cell, stopped.ename) == archived


def test_the_replays_kernel_holds_the_state_at_the_failure(replayed):
    from jupyter_client import BlockingKernelClient

    _, stopped = replayed
    client = BlockingKernelClient(connection_file=str(stopped.connection_file))
    client.load_connection_file()
    client.start_channels()
    seen = []
    try:
        reply = client.execute_interactive(
            "print(repr(lr), try_number)", timeout=60, output_hook=seen.append
        )
        assert reply["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream")
        assert text.split() == ["1e+24", "1"]  # try 1's learning rate, as it failed with it
    finally:
        client.stop_channels()


def test_the_retry_message_carries_the_replay_command(received, run):
    retry = next(m for m in received["slack"] if m["event"] == "retry")
    assert f"replay: stagebook replay {run.dag_run.run_id}" in retry["text"] or (
        "replay: stagebook replay '" in retry["text"]
    )
    assert "prod.train --pipeline recommendation_pipeline --try 1 --until-failure" in retry["text"]


def test_replaying_an_unknown_run_or_task_names_it(run, capsys):
    from stagebook.orchestration.commands import cli

    assert cli.main(["replay", "no-such-run", "prod.train"]) == 2
    assert "unknown run 'no-such-run'" in capsys.readouterr().err
    assert cli.main(["replay", run.dag_run.run_id, "prod.nothing"]) == 2
    err = capsys.readouterr().err
    assert f"run '{run.dag_run.run_id}' has no archived try of task 'prod.nothing'" in err
    assert "prod.train" in err
