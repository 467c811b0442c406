"""The operators of a Stagebook DAG: a stage notebook, the phase branch, the run summary.

papermill, nbconvert and the channels are imported when a task runs, not here, so DAG
files that import this module parse fast. A stage's try is :mod:`.runner`'s work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseBranchOperator, BaseOperator

from stagebook import dates, notebook, params, settings, storage
from stagebook.context import DAG_ID_VARIABLE
from stagebook.errors import MissingInputError, ParamsError, StagebookError, StageFailed
from stagebook.orchestration.execution import kernels, secrets, stopping
from stagebook.orchestration.execution.runner import StageRunner, Stopwatch
from stagebook.orchestration.reviewing.links import ReportLink
from stagebook.records import read_records


def _fail(message: str) -> BaseException:
    """Return the error that fails a task at once, with no retry."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


class StageNotebookOperator(stopping.Stoppable, BaseOperator):
    """Execute stage notebook ``stage`` for the run's business date and ``phase``.

    Injects ``ds``, ``phase``, ``try_number``, ``run_id``, the run conf's ``overrides``
    and each value named in ``pull`` (an XCom of the named task); the try itself (run,
    archive, describe) is :class:`StageRunner`'s; pushes each record as an XCom.

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
        trends: the stage's trend metrics (:class:`stagebook.metrics.Metric`),
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

    def runner(self) -> StageRunner:
        """Return the Airflow-free runner of this stage's tries (one per task)."""
        if getattr(self, "_runner", None) is None:
            self._runner = StageRunner(
                task_id=self.task_id,
                stage=self.stage,
                phase=self.phase,
                kernel_name=self.kernel_name,
                figure=self.figure,
                trends=self.trends,
                summary=self.summary,
                log=self.log,
            )
        return self._runner

    def execute(self, context: Mapping[str, Any]) -> None:
        """Run one try (:class:`StageRunner`); push its records and its assets' lineage."""
        with stopping.stage():  # a stop in here is recorded, never cuts archiving short
            self.run_try(context, self.runner())

    def run_try(self, context: Mapping[str, Any], runner: StageRunner) -> None:
        """Do the work of one try: Airflow's context (the DAG version too) in, its outcomes out."""
        clock, dag_id, ti = Stopwatch(), context["dag"].dag_id, context["ti"]
        try:
            values, conf = self.injected(context), getattr(context.get("dag_run"), "conf", None)
            output = runner.prepare(dag_id, values, conf, getattr(ti, "dag_version_id", None))
        except StagebookError as exc:
            if exc.retryable:
                raise
            raise _fail(
                f"{self.task_id}: {exc}\n(not retried: another try cannot fix it)"
            ) from None
        if kernels.enabled():  # under stagebook run only; counted in prepare, not the notebook
            kernels.start(kernels.ahead(self, context), dag_id)
        clock.lap("prepare")
        started = dates.now()
        try:
            runner.run(values, output, dag_id, self.kernel_environ(dag_id))
        except BaseException as exc:
            clock.lap("notebook")
            failure = runner.failed(exc, values, output, started, clock)
            if failure is exc:
                raise
            if isinstance(failure, StageFailed) and not failure.retryable:
                raise _fail(str(failure)) from None
            raise failure from None
        clock.lap("notebook")
        try:  # a try whose report or card could not be written did not succeed
            report = runner.archive(output)
            clock.lap("archive")
            runner.describe(output, "success", started, clock=clock)
        except OSError as exc:
            raise _fail(
                f"{self.task_id}: could not write the report of {output.name}: {exc}; "
                "free space in the archive, then clear the task (not retried)"
            ) from None
        self.push_records(context["ti"], output)
        self.emit(context, values, output)
        self.log.info("Report: %s", report)

    def emit(self, context: Mapping[str, Any], values: Mapping[str, Any], output: Path) -> None:
        """Set the ``extra`` of each outlet's asset event: where the try ran and its lineage records."""
        if not self.outlets:
            return
        from stagebook.orchestration.notifying import messages

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
            dag = context["dag"]
            kernels.dismiss(self, chosen, dag.dag_id)  # a warm run's spares of the other phases
            kernels.start([dag.get_task(t) for t in chosen], dag.dag_id)
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
        from stagebook.orchestration.notifying import callbacks, channels, messages

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
