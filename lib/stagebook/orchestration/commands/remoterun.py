"""``stagebook run`` on a served Airflow: trigger through the REST API, follow it here, exit with its outcome.

The run is what a trigger from the UI makes: a manual run at the present
moment with ``ds`` (and the phases and overrides) in its conf, run by the
served scheduler and its executor, so the UI shows it with its task logs and
reports like a scheduled one. This command prints each task's state as it
changes and each stage's per-cell progress lines (read from the task logs
through the API), then, for a failed task, its last error and the command that
replays it; a gate that waits for a reviewer says how to answer. Exit code:
0 success, 1 a failed run (or Airflow stopped answering while it ran: the run
goes on), 2 bad input, 130 Ctrl-C (following stops, the run goes on).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import urlencode

from stagebook.orchestration.commands import rest

POLL_S = 1.0
PAGE = 100  # task instances a page (Airflow's default maximum_page_limit)
RETRIES = 10  # polls in a row Airflow may miss (a restart) before following stops
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
        self.run_state = ""
        self.read: dict[tuple[str, int], str | None] = {}  # (task, try) -> the log's next token
        self.closed: set[tuple[str, int]] = set()  # tries whose whole log was read
        self.errors: dict[str, str] = {}  # task -> its last error line

    def _run_path(self, *parts: str) -> str:
        return rest.path("dags", self.dag_id, "dagRuns", self.run_id, *parts)

    def tasks(self) -> list[dict[str, Any]]:
        """Return the run's task instances, every page (ordered by start, the unstarted last)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.airflow.get(
                f"{self._run_path('taskInstances')}?{urlencode({'limit': PAGE, 'offset': len(found)})}"
            )
            found += page.get("task_instances") or []
            if not page.get("task_instances") or len(found) >= page.get("total_entries", 0):
                break
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

    def _log(self, ti: dict[str, Any], state: str, out: Any) -> None:
        """Print a running try's new progress lines; read a finished try's log one last time."""
        key = (ti["task_id"], ti.get("try_number") or 0)
        if not key[1] or key in self.closed or state in ("none", "scheduled", "queued"):
            return
        if state not in ("running", "deferred"):
            self.closed.add(key)  # finished (or waiting for a person): nothing more comes
        for event in self.log_lines(*key):
            text = str(event.get("event") or "")
            if event.get("logger") == PROGRESS_LOGGER:
                print(f"  {key[0]}: {text}", file=out, flush=True)
            elif str(event.get("level")) in ("error", "critical") and text.strip():
                self.errors[key[0]] = text.strip().splitlines()[0]

    def show(self, ti: dict[str, Any], out: Any) -> None:
        """Print what is new about ``ti``: its state, and its log's progress and errors."""
        task_id, state = ti["task_id"], str(ti.get("state") or "none")
        if self.states.get(task_id) != state:
            self.closed.discard((task_id, ti.get("try_number") or 0))  # e.g. an approval resumed
        self._log(ti, state, out)
        if self.states.get(task_id) != state:
            self.states[task_id] = state
            print(f"{task_id:<18} {state}", file=out, flush=True)
            if state == "awaiting_input":
                print(
                    f"  waiting for a reviewer: stagebook approve '{self.run_id}' {task_id} "
                    f"--url {self.airflow.base} --username NAME (or the Airflow UI)",
                    file=out,
                    flush=True,
                )

    def poll(self, out: Any) -> dict[str, Any]:
        """Print what changed since the last poll; return the run."""
        run = self.airflow.get(self._run_path())
        if run.get("state") != self.run_state:
            self.run_state = str(run.get("state"))
            print(f"run {self.run_id}: {self.run_state}", file=out, flush=True)
        for ti in self.tasks():
            self.show(ti, out)
        return run

    def follow(self, out: Any) -> dict[str, Any]:
        """Print the run's progress until it ends; return the run.

        Raises:
            RestError: Airflow did not answer :data:`RETRIES` polls in a row.
        """
        failures = 0
        while True:
            try:
                run = self.poll(out)
                failures = 0
            except rest.RestError:
                failures += 1
                if failures >= RETRIES:
                    raise
                run = {}
            if run.get("state") in FINISHED:
                return run
            time.sleep(POLL_S * (1 + failures))


def outcome(follower: Follower, run: dict[str, Any]) -> list[str]:
    """Return the closing lines: the run's state, each failed task's error and replay command."""
    base, dag_id, run_id = follower.airflow.base, follower.dag_id, follower.run_id
    lines = [f"run {run_id}: {run.get('state')} (ds {(run.get('conf') or {}).get('ds')})"]
    for task_id, state in follower.states.items():
        if state == "failed":
            lines.append(f"  {task_id} failed: {follower.errors.get(task_id, 'see its log')}")
            lines.append(
                f"    replay: stagebook replay '{run_id}' {task_id} --until-failure"
                "  (where its archive is)"
            )
    lines.append(f"in the UI: {base}/dags/{dag_id}/runs/{run_id}")
    return lines


def run(airflow: rest.Airflow, dag_id: str, ds: dt.date, conf: dict[str, Any], out: Any) -> int:
    """Trigger and follow one run; return the exit code (0 success, 1 failed, 130 Ctrl-C)."""
    run_id = trigger(airflow, dag_id, ds, conf)
    print(f"stagebook: triggered {dag_id} for {ds} on {airflow.base}: run {run_id}", flush=True)
    follower = Follower(airflow, dag_id, run_id)
    where = f"{airflow.base}/dags/{dag_id}/runs/{run_id}"
    try:
        final = follower.follow(out)
    except KeyboardInterrupt:
        print(f"stagebook: stopped following; the run goes on: {where}", flush=True)
        return 130
    except rest.RestError as exc:
        print(f"stagebook: stopped following ({exc}); the run goes on: {where}", flush=True)
        return 1
    for line in outcome(follower, final):
        print(line, file=out, flush=True)
    return 0 if final.get("state") == "success" else 1
