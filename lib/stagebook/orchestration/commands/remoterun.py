"""``stagebook run`` on a served Airflow: trigger through the REST API, follow it here, exit with its outcome.

The run is what a trigger from the UI makes: a manual run at the present
moment with ``ds`` (and the phases and overrides) in its conf, run by the
served scheduler and its executor, so the UI shows it with its task logs and
reports like a scheduled one. This command prints each task's state as it
changes and each stage's per-cell progress lines (read from the task logs
through the API), then, for a failed task, its last error and the command that
replays it. Exit code: 0 success, 1 a failed run, 2 bad input; Ctrl-C stops
following (the run goes on).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import urlencode

from stagebook.orchestration.commands import rest

POLL_S = 1.0
FINISHED = ("success", "failed")  # a run's final states
PROGRESS_LOGGER = "stagebook.progress"  # the logger of a stage's per-cell lines


def trigger(airflow: rest.Airflow, dag_id: str, ds: dt.date, conf: dict[str, Any]) -> str:
    """Trigger a manual run of ``dag_id`` for ``ds`` now; return its run id.

    Raises:
        RestError: in one line, e.g. the DAG is paused or unknown to that Airflow.
    """
    dag = airflow.get(rest.path("dags", dag_id))
    if dag.get("is_paused"):
        raise rest.RestError(
            f"{airflow.base}: DAG {dag_id} is paused, so its run would wait: unpause it in the UI "
            "first"
        )
    now = dt.datetime.now(dt.UTC).isoformat()
    body = {"logical_date": now, "conf": {**conf, "ds": ds.isoformat()}}
    return airflow.call("POST", rest.path("dags", dag_id, "dagRuns"), body)["dag_run_id"]


class Follower:
    """Prints a run's task states as they change, and its stages' progress lines as they come."""

    def __init__(self, airflow: rest.Airflow, dag_id: str, run_id: str) -> None:
        self.airflow, self.dag_id, self.run_id = airflow, dag_id, run_id
        self.states: dict[str, str] = {}
        self.read: dict[tuple[str, int], str | None] = {}  # (task, try) -> the log's next token
        self.errors: dict[str, str] = {}  # task -> its last error line

    def _run_path(self, *parts: str) -> str:
        return rest.path("dags", self.dag_id, "dagRuns", self.run_id, *parts)

    def tasks(self) -> list[dict[str, Any]]:
        """Return the run's task instances (ordered by start, the unstarted last)."""
        found = self.airflow.get(self._run_path("taskInstances"))["task_instances"]
        return sorted(found, key=lambda t: (t.get("start_date") is None, t.get("start_date") or ""))

    def log_lines(self, task_id: str, try_number: int) -> list[dict[str, Any]]:
        """Return the lines of a try's log written since the last call (structured events)."""
        token = self.read.get((task_id, try_number))
        query = urlencode({"token": token} if token else {"full_content": "false"})
        where = self._run_path("taskInstances", task_id, "logs", str(try_number))
        try:
            answer = self.airflow.get(f"{where}?{query}")
        except rest.RestError:
            return []  # not written yet
        self.read[(task_id, try_number)] = answer.get("continuation_token") or token
        return [e for e in answer.get("content") or [] if isinstance(e, dict)]

    def show(self, ti: dict[str, Any], out: Any) -> None:
        """Print what is new about ``ti``: its state, and its log's progress and errors."""
        task_id, state = ti["task_id"], str(ti.get("state") or "none")
        if ti.get("try_number") and state not in ("none", "scheduled", "queued"):
            for event in self.log_lines(task_id, ti["try_number"]):
                if event.get("logger") == PROGRESS_LOGGER:
                    print(f"  {task_id}: {event.get('event')}", file=out, flush=True)
                elif str(event.get("level")) in ("error", "critical"):
                    self.errors[task_id] = str(event.get("event")).splitlines()[0]
        if self.states.get(task_id) != state:
            self.states[task_id] = state
            print(f"{task_id:<18} {state}", file=out, flush=True)

    def follow(self, out: Any) -> dict[str, Any]:
        """Print the run's progress until it ends; return the run."""
        while True:
            run = self.airflow.get(self._run_path())
            for ti in self.tasks():
                self.show(ti, out)
            if run.get("state") in FINISHED:
                return run
            time.sleep(POLL_S)


def outcome(follower: Follower, run: dict[str, Any]) -> list[str]:
    """Return the closing lines: the run's state, each failed task's error and replay command."""
    base, dag_id, run_id = follower.airflow.base, follower.dag_id, follower.run_id
    lines = [f"run {run_id}: {run.get('state')} (ds {(run.get('conf') or {}).get('ds')})"]
    for task_id, state in follower.states.items():
        if state == "failed":
            lines.append(f"  {task_id} failed: {follower.errors.get(task_id, 'see its log')}")
            lines.append(f"    replay: stagebook replay '{run_id}' {task_id} --until-failure")
    lines.append(f"in the UI: {base}/dags/{dag_id}/runs/{run_id}")
    return lines


def run(airflow: rest.Airflow, dag_id: str, ds: dt.date, conf: dict[str, Any], out: Any) -> int:
    """Trigger and follow one run; return the exit code (0 success, 1 failed, 130 Ctrl-C)."""
    run_id = trigger(airflow, dag_id, ds, conf)
    print(f"stagebook: triggered {dag_id} for {ds} on {airflow.base}: run {run_id}", flush=True)
    follower = Follower(airflow, dag_id, run_id)
    try:
        final = follower.follow(out)
    except KeyboardInterrupt:
        print(f"stagebook: stopped following; the run goes on: {airflow.base}", flush=True)
        return 130
    for line in outcome(follower, final):
        print(line, file=out, flush=True)
    return 0 if final.get("state") == "success" else 1
