"""The operators of a Stagebook DAG: a stage notebook, the phase branch, the run summary.

papermill, nbconvert and the channels are imported when a task runs, not here,
so DAG files that import this module parse fast.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseBranchOperator, BaseOperator

from stagebook import dates, failures, notebook, params, reports, settings, storage
from stagebook.context import DAG_ID_VARIABLE
from stagebook.errors import MissingInputError, ParamsError, StagebookError, StageFailed
from stagebook.orchestration import kernels, runlock, secrets, stopping
from stagebook.orchestration.links import ReportLink
from stagebook.records import read_records


class Stopwatch:
    """The seconds each named phase of a try took, in order (``lap`` ends the current one)."""

    def __init__(self) -> None:
        self._now = time.perf_counter
        self._mark = self._now()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """End phase ``name`` now."""
        now = self._now()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._mark, 3)
        self._mark = now


def _fail(message: str) -> BaseException:
    """Return the error that fails a task at once, with no retry."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


class StageNotebookOperator(stopping.Stoppable, BaseOperator):
    """Execute stage notebook ``stage`` for the run's business date and ``phase``.

    Injects ``ds``, ``phase``, ``try_number``, ``run_id``, the run conf's
    ``overrides`` and every value named in ``pull`` (an XCom key of the named
    task); archives the executed notebook (``stagebook.storage.report_path``)
    with its HTML rendering, after a failure too; pushes each
    ``stagebook.record`` as an XCom.

    Args:
        stage: the notebook's name without ``.ipynb``, e.g. ``30-score``.
        phase: ``prod``, ``beta``, or ``common`` for stages before the phase split.
        records: the names the notebook records (the stage table's declaration).
        pull: parameter name -> task id; the parameter gets that task's XCom of the same key.
        parameters: extra literal parameters (templated). Never a secret.
        kernel_name: Jupyter kernel to run; default the notebook's kernelspec.
        connections: Airflow connection ids the notebook may use. Each one defined
            reaches the kernel as ``AIRFLOW_CONN_<ID>`` (JSON) in its environment, for
            the time of the run only: never as a parameter, which the archived
            notebook would show. One not defined is skipped (the notebook says so
            if it needs it).
        figure: ``(label, dotted record key)`` of the one number the index shows
            for a try, e.g. ``("test AUC", "metrics.test_auc")``.
        optional: names in ``pull`` that may be missing (injected as None), e.g. the
            decision of a gate that did not run in this run.
        lineage: with ``outlets`` (Airflow assets): the records (or injected values)
            each asset event's ``extra`` holds, beside ``ds``, ``phase``, ``run_id``,
            ``try_number`` and ``report_url``.
        trends: the stage's trend metrics (:class:`stagebook.orchestration.metrics.Metric`),
            kept in each try's sidecar for the trends page.
        summary: ``(label, dotted record key)`` rows of the report's card, kept in
            each try's sidecar; none: the card lists the records that are a number or a text.
    """

    template_fields: Sequence[str] = ("parameters",)
    operator_extra_links = (ReportLink(),)
    ui_color = "#f5e6c8"

    def __init__(
        self,
        *,
        stage: str,
        phase: str = "common",
        records: Sequence[str] = (),
        pull: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        kernel_name: str | None = None,
        connections: Sequence[str] = (),
        figure: tuple[str, str] | None = None,
        optional: Sequence[str] = (),
        lineage: Sequence[str] = (),
        trends: Sequence[Any] = (),
        summary: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.phase = phase
        self.records = tuple(records)
        self.pull = dict(pull or {})
        self.parameters = dict(parameters or {})
        self.kernel_name = kernel_name
        self.connections = tuple(connections)
        self.figure = tuple(figure) if figure else None
        self.optional = tuple(optional)
        self.lineage = tuple(lineage)
        self.trends = tuple(trends)
        self.summary = tuple(tuple(row) for row in summary)

    @property
    def injected_names(self) -> set[str]:
        """Return the names of the parameters this operator injects (its notebook must declare them)."""
        return set(notebook.INJECTED) | set(self.pull) | set(self.parameters)

    def injected(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Return the parameters this try injects into the notebook."""
        ti = context["ti"]
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        values: dict[str, Any] = {
            "ds": dates.run_business_date(context, context["dag"].timezone.name).isoformat(),
            "phase": self.phase,
            "try_number": int(ti.try_number),
            "run_id": context["run_id"],
            "overrides": dict(conf.get("overrides") or {}),
        }
        for name, task_id in self.pull.items():
            value = ti.xcom_pull(task_ids=task_id, key=name)
            if value is None and name not in self.optional:
                raise MissingInputError(
                    f"{self.task_id}: task {task_id!r} recorded no {name!r} in this run: "
                    f"check that {task_id} succeeded and calls stagebook.record({name!r}, ...)"
                )
            values[name] = value
        values.update(self.parameters)
        return values

    def execute(self, context: Mapping[str, Any]) -> None:
        """Prepare, run the notebook, archive it (after a failure too), push its records."""
        with (
            stopping.stage()
        ):  # a stop in here is recorded, never cuts redaction or archiving short
            self.run_try(context)

    def run_try(self, context: Mapping[str, Any]) -> None:
        """Do the work of one try (see :meth:`execute`)."""
        clock = Stopwatch()
        try:
            values, output = self.prepare(context)
        except StagebookError as exc:
            if exc.retryable:
                raise
            raise _fail(
                f"{self.task_id}: {exc}\n(not retried: another try cannot fix it)"
            ) from None
        clock.lap("prepare")
        if kernels.enabled():  # under stagebook run only
            kernels.start(self.following(context), context["dag"].dag_id)
        started = dates.now()
        try:
            self.run(values, output, context["dag"].dag_id)
        except BaseException as exc:
            clock.lap("notebook")
            failure = self.failed(exc, values, output, started, clock)
            if failure is exc:
                raise
            raise failure from None
        clock.lap("notebook")
        try:  # a try whose report or card could not be written did not succeed
            report = self.archive(output)
            clock.lap("archive")
            self.describe(output, "success", started, clock=clock)
        except OSError as exc:
            raise _fail(
                f"{self.task_id}: could not write the report of {output.name}: {exc}; "
                "free space in the archive, then clear the task (not retried)"
            ) from None
        self.push_records(context["ti"], output)
        self.emit(context, values, output)
        self.log.info("Report: %s", report)

    def failed(
        self, exc: BaseException, values: Mapping[str, Any], output: Path, started: Any, clock: Any
    ) -> BaseException:
        """Archive and describe a try whose notebook failed; return what the task raises."""
        try:
            report = self.archive(output)
        except OSError:  # a full disk must not hide the stage's own failure
            self.log.exception("Could not archive %s", output)
            report = output
        failure = self.on_failure(exc, values, output, report)
        clock.lap("archive")
        state = "interrupted" if stopping.requested() else "failed"
        try:  # the sidecar serves the index: it must not hide the stage's own failure
            self.describe(output, state, started, error=str(failure), clock=clock)
        except Exception:
            self.log.exception("Could not describe %s in its sidecar", output)
        return failure

    def emit(self, context: Mapping[str, Any], values: Mapping[str, Any], output: Path) -> None:
        """Set the ``extra`` of each outlet's asset event: where the try ran and its lineage records."""
        if not self.outlets:
            return
        from stagebook.orchestration import messages

        found = read_records(output)
        extra = {
            "ds": values["ds"],
            "phase": self.phase,
            "run_id": values["run_id"],
            "try_number": values["try_number"],
            "report_url": messages.report_url(
                context["ti"], self.task_id, values["try_number"], storage.rendering(output)
            ),
            **{name: found.get(name, values.get(name)) for name in self.lineage},
        }
        for asset in self.outlets:
            context["outlet_events"][asset].extra = secrets.redacted(extra)

    def following(self, context: Mapping[str, Any]) -> list[BaseOperator]:
        """Return the tasks that run after this one, through the phase branch's choice."""
        found: list[BaseOperator] = []
        for task in self.downstream_list:
            chooses = isinstance(task, SelectPhaseOperator)
            found += (
                [context["dag"].get_task(t) for t in task.chosen(context)] if chooses else [task]
            )
        return found

    def prepare(self, context: Mapping[str, Any]) -> tuple[dict[str, Any], Path]:
        """Check the notebook's contract and the run's conf; return the injected values and path.

        A bad conf (unknown phase, unknown key, bad value) fails here, before any kernel starts.
        """
        notebook.parameters(notebook.path(self.stage))
        conf = getattr(context.get("dag_run"), "conf", None)
        params.resolve_run_conf(conf)
        # This phase's own file, strictly: a malformed one fails here, naming the file and key.
        merged = params.load(
            None if self.phase == "common" else self.phase, (conf or {}).get("overrides")
        )
        values = self.injected(context)
        output = storage.report_path(
            context["dag"].dag_id,
            dates.parse_ds(values["ds"]),
            self.phase,
            values["run_id"],
            self.stage,
            values["try_number"],
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        reports.mark_lost(output, values["try_number"])
        reports.write_sidecar(
            output,
            dag_id=context["dag"].dag_id,
            run_id=values["run_id"],
            task_id=self.task_id,
            stage=self.stage,
            phase=self.phase,
            ds=values["ds"],
            try_number=values["try_number"],
            state="running",
            **runlock.identity(),  # a reader tells a try whose process is gone from a running one
            started=dates.now().isoformat(),
            parameters=secrets.redacted(dict(values)),
            params=merged.model_dump(mode="json"),  # what this try ran with, for comparisons
        )
        self.log.info(
            "Stage %s, %s, ds %s, try %s -> %s",
            self.stage,
            self.phase,
            values["ds"],
            values["try_number"],
            output,
        )
        return values, output

    def run(self, values: Mapping[str, Any], output: Path, dag_id: str) -> None:
        """Execute the notebook with papermill into ``output``, in a kernel of its own."""
        import papermill

        from stagebook.orchestration import progress  # registers the "stagebook" engine

        limits = params.load(None if self.phase == "common" else self.phase).pipeline
        environ = self.kernel_environ(dag_id)
        path = notebook.path(self.stage)
        kernel_name = self.kernel_name or notebook.kernel_name(path)
        spare = kernels.take(self, dag_id, kernel_name, environ)
        if spare is None:
            self.kernel_seen: dict[str, Any] = {}
            manager = secrets.kernel_manager(environ, self.kernel_seen)
        else:
            self.log.info("Using the kernel started while the stage before ran")
            self.kernel_seen, manager = spare.seen, kernels.adopting(spare)
        kernels.while_waiting()
        with stopping.running(self.kernel_seen):  # what a stop interrupts
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters=dict(values),
                kernel_name=kernel_name,
                language="python",
                progress_bar=False,
                report_mode=True,
                log_output=True,
                start_timeout=limits.start_timeout_s,
                execution_timeout=limits.cell_timeout_s,
                kernel_manager_class=manager,
                shutdown_kernel="immediate",  # every output is in; a graceful stop only waits
                engine_name=progress.NAME,  # a log line per cell, progress bars collapsed
            )

    def on_failure(
        self, exc: BaseException, values: Mapping[str, Any], output: Path, report: Path | None
    ) -> BaseException:
        """Return what the task raises for ``exc``: retried, or failed at once if a retry cannot help."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from papermill.exceptions import PapermillExecutionError

        where = f"stage {self.stage} ({self.phase}, ds {values['ds']}, try {values['try_number']})"
        if stopping.requested():  # stagebook run stops for good; a worker's try is retried
            message = f"{where} {stopping.reason()}\nReport: {report}"
            if stopping.ends_run():
                return _fail(f"{message}\n(not retried: the run was stopped)")
            return StageFailed(message, ename="Interrupted", report=str(report), retryable=True)
        if isinstance(exc, CellTimeoutError | DeadKernelError):
            cell = reports.last_started_cell(output) if output.exists() else None
            what = {
                CellTimeoutError: "ran past pipeline.cell_timeout_s",
                DeadKernelError: "lost its kernel (killed, or out of memory)",
            }[type(exc)]
            message = f"{where}: cell {cell} {what}: {exc}\nReport: {report}"
            return StageFailed(
                message, ename=type(exc).__name__, report=str(report), retryable=True
            )
        if not isinstance(exc, PapermillExecutionError):
            return exc
        message = f"{where} raised {exc.ename}: {secrets.redacted(exc.evalue)}\nReport: {report}"
        # the kernel said if a retry helps (stagebook.failures); one that said nothing is retried
        if failures.retryable_in(output) is not False:
            return StageFailed(message, ename=exc.ename, report=str(report), retryable=True)
        return _fail(f"{message}\n(not retried: another try cannot fix {exc.ename})")

    def archive(self, output: Path) -> Path | None:
        """Redact the archived notebook and render it to HTML; return the report.

        A notebook nbconvert cannot render keeps its ``.ipynb`` as the report; a disk
        that cannot take the rendering raises ``OSError``.
        """
        if not output.exists():
            return None
        secrets.redact_notebook(output)  # before anything reads it: HTML, records, sidecar
        try:
            return reports.render_html(output)
        except OSError:
            raise
        except Exception:  # a rendering problem must not hide the stage's own outcome
            self.log.exception("Could not render %s to HTML", output)
            return output

    def describe(
        self,
        output: Path,
        state: str,
        started: Any,
        error: str | None = None,
        clock: Stopwatch | None = None,
    ) -> None:
        """Finish the try's sidecar (state, times, records, key figure), then refresh the index.

        The sidecar also keeps the stage's trend metrics and card rows: the reviewing
        app reads them from there, never from the DAG.

        ``clock``: the try's phases so far (prepare, notebook, archive); the sidecar
        gets them with the notebook's own split (kernel start, each cell) and this
        step's, and the task log gets one line of them.
        """
        ended = dates.now()
        found = read_records(output) if output.exists() else {}
        figure = None
        if self.figure:
            figure = {
                "label": self.figure[0],
                "value": reports.figure_of(found, self.figure[1]),
            }
        reports.write_sidecar(
            output,
            state=state,
            ended=ended.isoformat(),
            duration_s=round((ended - started).total_seconds(), 3),
            records=found,
            figure=figure,
            trends=[metric.as_json() for metric in self.trends],
            summary=[list(row) for row in self.summary],
            error=secrets.redacted(error) if error else None,
        )
        from stagebook import cards

        cards.add_card(output)  # the rendering opens with the finished try's card
        reports.write_index()
        if clock is not None:
            clock.lap("index")
            timings = {**clock.laps, **reports.notebook_timings(output)}
            peak = getattr(self, "kernel_seen", {}).get("kernel_peak_rss_mb")
            reports.write_sidecar(output, timings=timings, kernel_peak_rss_mb=peak)
            self.log.info(
                "Stage %s took %s",
                self.stage,
                ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()),
            )

    def push_records(self, ti: Any, output: Path) -> None:
        """Push each record of the executed notebook as an XCom under its name."""
        for name, value in read_records(output).items():
            ti.xcom_push(key=name, value=value)

    def kernel_environ(self, dag_id: str) -> dict[str, str]:
        """Return the environment of this stage's kernel (the connections it may use included)."""
        return secrets.kernel_environ({**self._connections(), DAG_ID_VARIABLE: dag_id})

    def _connections(self) -> dict[str, str]:
        """Return ``AIRFLOW_CONN_<ID>`` -> JSON of each defined connection the notebook may use."""
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        found = {}
        for conn_id in self.connections:
            try:
                conn = Connection.get(conn_id)
                found[settings.connection_variable(conn_id)] = secrets.mask_connection(conn)
            except AirflowNotFoundException:
                self.log.info("Connection %r is not defined: not passed to the notebook", conn_id)
        return found


class SelectPhaseOperator(stopping.Stoppable, BaseBranchOperator):
    """Branch to the first task of each phase the run's conf asks for (default: params).

    Validates the whole conf first: an unknown phase, or an override of a key
    that does not exist, fails the task at once (no retry) with a message that
    lists what is known.
    """

    ui_color = "#d8e4f0"

    def __init__(self, *, first_task: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_task = first_task

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:
        """Return ``<phase>.<first_task>`` for each phase of the run."""
        try:
            chosen = self.chosen(context)
        except ParamsError as exc:
            raise _fail(str(exc)) from None
        self.log.info("Phases of this run: %s", ", ".join(t.split(".")[0] for t in chosen))
        if kernels.enabled():
            kernels.start([context["dag"].get_task(t) for t in chosen], context["dag"].dag_id)
        return chosen

    def chosen(self, context: Mapping[str, Any]) -> list[str]:
        """Return the task ids this branch chooses for the run's conf (raises ParamsError)."""
        phases = params.resolve_run_conf(getattr(context.get("dag_run"), "conf", None))
        return [f"{phase}.{self.first_task}" for phase in phases]


class RunSummaryOperator(stopping.Stoppable, BaseOperator):
    """Send one summary per run: each task's state, tries and report; fail if a stage failed.

    Runs with trigger rule ``all_done``, so it reports on failed runs too; DAG
    callbacks are best effort in Airflow, this task is not. It summarizes every
    other task of its DAG.
    """

    ui_color = "#e8e0f0"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        for callback in ("on_success_callback", "on_failure_callback", "on_retry_callback"):
            kwargs[callback] = None  # the summary is its own message, not a task event
        super().__init__(**kwargs)

    def execute(self, context: Mapping[str, Any]) -> None:
        """Collect the states, send the summary, fail if any stage failed."""
        from stagebook.orchestration import callbacks, channels, messages

        ti = context["ti"]
        tasks = [task for task in context["dag"].tasks if task.task_id != self.task_id]
        states = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=[t.task_id for t in tasks], run_ids=[ti.run_id]
        ).get(ti.run_id, {})
        message = messages.summary_message(context, tasks, states)
        self.log.info("Run summary:\n%s", message.text)
        channels.send(message, callbacks.notification_params("common", context))
        if message.state == "failed":
            raise _fail(f"stages not successful in this run: {message.error}")
