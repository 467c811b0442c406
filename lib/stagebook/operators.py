"""``StageNotebookOperator``: one stage notebook, executed through the papermill provider.

papermill and the provider are imported in ``execute``, not here, so DAG files
that import this module parse fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseBranchOperator, BaseOperator, BaseOperatorLink

from stagebook import dates, errors, notebook, params, reports, settings, storage
from stagebook.records import read_records


class ReportLink(BaseOperatorLink):
    """The operator extra link "Report": the HTML rendering of the try's archived notebook."""

    name = "Report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        """Return the report of the try that just ran (Airflow stores it as an XCom)."""
        report = getattr(operator, "report_html", None)
        return reports.url(report) if report else ""


class StageNotebookOperator(BaseOperator):
    """Execute stage notebook ``stage`` for the run's business date and ``phase``.

    Injects ``ds``, ``phase``, ``try_number``, ``run_id``, the run conf's
    ``overrides`` and every value named in ``pull`` (an XCom key of the named
    task); archives the executed notebook at
    ``reports/<dag_id>/<ds>/<phase>/<stage>.try<N>.ipynb`` with its HTML
    rendering (after a failure too); pushes each ``stagebook.record`` as an XCom.

    Args:
        stage: the notebook's name without ``.ipynb``, e.g. ``20-train``.
        phase: ``prod``, ``beta``, or ``common`` for stages before the phase split.
        pull: parameter name -> task id; the parameter gets that task's XCom of the same key.
        parameters: extra literal parameters (templated). Never a secret.
        kernel_name: Jupyter kernel to run; default the notebook's kernelspec.
        connections: Airflow connection ids the notebook may use. Each one defined
            reaches the kernel as ``AIRFLOW_CONN_<ID>`` (JSON) in its environment, for
            the time of the run only: never as a parameter, which the archived
            notebook would show. One not defined is skipped (the notebook says so
            if it needs it).
    """

    template_fields: Sequence[str] = ("parameters",)
    operator_extra_links = (ReportLink(),)
    ui_color = "#f5e6c8"

    def __init__(
        self,
        *,
        stage: str,
        phase: str = "common",
        pull: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        kernel_name: str | None = None,
        connections: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.phase = phase
        self.pull = dict(pull or {})
        self.parameters = dict(parameters or {})
        self.kernel_name = kernel_name
        self.connections = tuple(connections)
        self.report_html: Path | None = None

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
            if value is None:
                raise errors.MissingInputError(
                    f"{self.task_id}: task {task_id!r} recorded no {name!r} in this run: "
                    f"check that {task_id} succeeded and calls stagebook.record({name!r}, ...)"
                )
            values[name] = value
        values.update(self.parameters)
        return values

    def execute(self, context: Mapping[str, Any]) -> None:
        """Run the notebook, archive and render it, and push its records to XCom."""
        from airflow.providers.papermill.operators.papermill import PapermillOperator
        from airflow.sdk.exceptions import AirflowFailException
        from papermill.exceptions import PapermillExecutionError

        ti = context["ti"]
        source = notebook.path(self.stage)
        notebook.parameters(source)  # the contract, checked before any kernel starts
        values = self.injected(context)
        output = storage.report_path(
            context["dag"].dag_id,
            dates.parse_ds(values["ds"]),
            self.phase,
            self.stage,
            values["try_number"],
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        runner = PapermillOperator(
            task_id=f"{self.task_id}__papermill",
            input_nb=str(source),
            output_nb=str(output),
            parameters=values,
            kernel_name=self.kernel_name,
            language_name="python",
            log_output=True,
        )
        self.log.info(
            "Stage %s, %s, ds %s, try %s -> %s",
            self.stage,
            self.phase,
            values["ds"],
            values["try_number"],
            output,
        )
        # Nesting is deliberate here: the provider's operator does the execution, we
        # add archiving and records. Its safeguard warns about accidental nesting only.
        run = getattr(PapermillOperator.execute, "__wrapped__", PapermillOperator.execute)
        try:
            with settings.environ(self._connections()):
                run(runner, context)
        except PapermillExecutionError as exc:
            report = self._render(output)
            message = (
                f"stage {self.stage} ({self.phase}, ds {values['ds']}, try {values['try_number']}) "
                f"raised {exc.ename}: {exc.evalue}\nReport: {report}"
            )
            if errors.is_retryable(exc.ename):
                raise errors.StageFailed(
                    message, ename=exc.ename, report=str(report), retryable=True
                ) from None
            raise AirflowFailException(
                f"{message}\n(not retried: another try cannot fix {exc.ename})"
            ) from None
        except BaseException:
            self._render(output)
            raise
        report = self._render(output)
        for name, value in read_records(output).items():
            ti.xcom_push(key=name, value=value)
        self.log.info("Report: %s", report)

    def _connections(self) -> dict[str, str]:
        """Return ``AIRFLOW_CONN_<ID>`` -> JSON of each defined connection the notebook may use."""
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        found = {}
        for conn_id in self.connections:
            try:
                found[settings.connection_variable(conn_id)] = Connection.get(conn_id).as_json()
            except AirflowNotFoundException:
                self.log.info("Connection %r is not defined: not passed to the notebook", conn_id)
        return found

    def _render(self, output: Path) -> Path | None:
        if not output.exists():
            return None
        try:
            self.report_html = reports.render_html(output)
            reports.write_index(settings.home() / "reports")
        except Exception:  # a rendering problem must not hide the stage's own outcome
            self.log.exception("Could not render %s to HTML", output)
            return output
        return self.report_html


class SelectPhaseOperator(BaseBranchOperator):
    """Branch to the first task of each phase the run's conf asks for (default: params).

    Validates the whole conf first: an unknown phase, or an override of a key
    that does not exist, fails the task at once (no retry) with a message that
    lists what is known.
    """

    ui_color = "#d8e4f0"

    def __init__(self, *, first_task: str = "features", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_task = first_task

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:
        """Return ``<phase>.<first_task>`` for each phase of the run."""
        from airflow.sdk.exceptions import AirflowFailException

        conf = getattr(context.get("dag_run"), "conf", None)
        try:
            phases = params.resolve_run_conf(conf)
        except errors.ParamsError as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info("Phases of this run: %s", ", ".join(phases))
        return [f"{phase}.{self.first_task}" for phase in phases]
