"""One try of a stage notebook, without Airflow: prepare, execute, archive, describe.

:class:`StageRunner` does the work of a try given its injected values: it checks
the notebook's contract and the params, writes the try's sidecar, runs the
notebook with papermill in a kernel of its own, redacts and renders what ran,
and finishes the sidecar, the card and the index. It decides whether a failure
is worth another try (:meth:`StageRunner.on_failure`) and says so with
:class:`stagebook.errors.StageFailed`; what that means for a scheduler is the
caller's: :class:`stagebook.orchestration.execution.operators.StageNotebookOperator` is the
thin Airflow adapter around it (context in, XComs, asset events and
``AirflowFailException`` out).

papermill and nbconvert are imported when a try runs, not here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stagebook import (
    cards,
    dates,
    failures,
    index,
    notebook,
    params,
    provenance,
    reports,
    sidecars,
    storage,
    tries,
)
from stagebook.errors import StageFailed
from stagebook.orchestration.execution import kernels, runlock, secrets, stopping
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


@dataclasses.dataclass
class StageRunner:
    """The tries of one stage of one DAG (its declaration, as the stage table gives it).

    ``figure``, ``trends`` and ``summary`` are kept in each try's sidecar, where the
    reviewing app reads them. ``kernel_seen`` holds what the last try's kernel manager
    saw (its pid, its peak memory).
    """

    task_id: str
    stage: str
    phase: str = "common"
    kernel_name: str | None = None
    figure: tuple[str, str] | None = None
    trends: Sequence[Any] = ()
    summary: Sequence[tuple[str, str]] = ()
    log: logging.Logger = dataclasses.field(default=logging.getLogger("stagebook.runner"))
    kernel_seen: dict[str, Any] = dataclasses.field(default_factory=dict)

    def prepare(
        self, dag_id: str, values: Mapping[str, Any], conf: Any, dag_version: Any = None
    ) -> Path:
        """Check the notebook's contract and the run's conf; start the try's sidecar; return its path.

        A bad conf (unknown phase, unknown key, bad value) fails here, before any kernel starts.
        The sidecar keeps the code the try runs (:func:`stagebook.provenance.code`);
        ``dag_version``: Airflow's id of the run's DAG version.
        """
        source = notebook.path(self.stage)
        notebook.parameters(source)
        params.resolve_run_conf(conf)
        # This phase's own file, strictly: a malformed one fails here, naming the file and key.
        merged = params.load(
            None if self.phase == "common" else self.phase, (conf or {}).get("overrides")
        )
        ds, number = dates.parse_ds(values["ds"]), values["try_number"]
        output = storage.report_path(dag_id, ds, self.phase, values["run_id"], self.stage, number)
        output.parent.mkdir(parents=True, exist_ok=True)
        sidecars.mark_lost(output, number)
        sidecars.write_sidecar(
            output,
            dag_id=dag_id,
            run_id=values["run_id"],
            task_id=self.task_id,
            stage=self.stage,
            phase=self.phase,
            ds=values["ds"],
            try_number=number,
            state="running",
            **runlock.identity(),  # a reader tells a try whose process is gone from a running one
            started=dates.now().isoformat(),
            parameters=secrets.redacted(dict(values)),
            params=merged.model_dump(mode="json"),  # what this try ran with, for comparisons
            code=provenance.code(source, dag_version),  # and which code: compare and trends pages
        )
        self.log.info(
            "Stage %s, %s, ds %s, try %s -> %s", self.stage, self.phase, ds, number, output
        )
        return output

    def run(
        self, values: Mapping[str, Any], output: Path, dag_id: str, environ: Mapping[str, str]
    ) -> None:
        """Execute the notebook with papermill into ``output``, in a kernel started with ``environ``."""
        import papermill

        from stagebook.orchestration.execution import progress  # registers the "stagebook" engine

        limits = params.load(None if self.phase == "common" else self.phase).pipeline
        path = notebook.path(self.stage)
        kernel_name = self.kernel_name or notebook.kernel_name(path)
        spare = kernels.take(self, dag_id, kernel_name, environ)
        if spare is None:
            self.kernel_seen, km = {}, None
            manager = secrets.kernel_manager(environ, self.kernel_seen)
        else:  # nbclient's km: it connects to that kernel, and (cleanup_kc) stops it after
            self.log.info("Using the kernel started while the stage before ran")
            self.kernel_seen, manager, km = spare.seen, type(spare.manager), spare.manager
        kernels.while_waiting()
        with stopping.running(self.kernel_seen):  # what a stop interrupts
            papermill.execute_notebook(
                notebook.executable(path),  # the percent source as a notebook (progress names it)
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
                km=km,  # an engine argument: papermill passes it on to nbclient
                shutdown_kernel="immediate",  # every output is in; a graceful stop only waits
                engine_name=progress.NAME,  # a log line per cell, progress bars collapsed
            )

    def on_failure(
        self, exc: BaseException, values: Mapping[str, Any], output: Path, report: Path | None
    ) -> BaseException:
        """Return the failure of a try: a :class:`StageFailed` that says if a retry can help, or ``exc``."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from papermill.exceptions import PapermillExecutionError

        where = f"stage {self.stage} ({self.phase}, ds {values['ds']}, try {values['try_number']})"

        def outcome(message: str, ename: str, retryable: bool) -> StageFailed:
            return StageFailed(message, ename=ename, report=str(report), retryable=retryable)

        if stopping.requested():  # stagebook run stops for good; a worker's try is retried
            message = f"{where} {stopping.reason()}\nReport: {report}"
            if stopping.ends_run():
                return outcome(
                    f"{message}\n(not retried: the run was stopped)", "Interrupted", False
                )
            return outcome(message, "Interrupted", True)
        if isinstance(exc, CellTimeoutError | DeadKernelError):
            cell = tries.last_started_cell(output) if output.exists() else None
            what = {
                CellTimeoutError: "ran past pipeline.cell_timeout_s",
                DeadKernelError: "lost its kernel (killed, or out of memory)",
            }[type(exc)]
            return outcome(
                f"{where}: cell {cell} {what}: {exc}\nReport: {report}",
                exc.__class__.__name__,
                True,
            )
        if not isinstance(exc, PapermillExecutionError):
            return exc
        message = f"{where} raised {exc.ename}: {secrets.redacted(exc.evalue)}\nReport: {report}"
        # the kernel said if a retry helps (stagebook.failures); one that said nothing is retried
        if failures.retryable_in(output) is not False:
            return outcome(message, exc.ename, True)
        return outcome(
            f"{message}\n(not retried: another try cannot fix {exc.ename})", exc.ename, False
        )

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

    def failed(
        self,
        exc: BaseException,
        values: Mapping[str, Any],
        output: Path,
        started: Any,
        clock: Stopwatch,
    ) -> BaseException:
        """Archive and describe a try whose notebook failed; return its failure (:meth:`on_failure`)."""
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

    def describe(
        self,
        output: Path,
        state: str,
        started: Any,
        error: str | None = None,
        clock: Stopwatch | None = None,
    ) -> None:
        """Finish the try's sidecar (state, times, records, key figure), its card, then the index.

        The sidecar also keeps the stage's trend metrics and card rows: the reviewing
        app reads them from there, never from the DAG. ``clock``: the try's phases so
        far (prepare, notebook, archive); the sidecar gets them with the notebook's own
        split (kernel start, each cell) and this step's, and the log one line of them.
        """
        ended = dates.now()
        found = read_records(output) if output.exists() else {}
        figure = None
        if self.figure:
            figure = {"label": self.figure[0], "value": sidecars.figure_of(found, self.figure[1])}
        sidecars.write_sidecar(
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
        cards.add_card(output)  # the rendering opens with the finished try's card
        index.write_index()
        if clock is not None:
            clock.lap("index")
            timings = {**clock.laps, **tries.notebook_timings(output)}
            peak = self.kernel_seen.get("kernel_peak_rss_mb")
            sidecars.write_sidecar(output, timings=timings, kernel_peak_rss_mb=peak)
            took = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
            self.log.info("Stage %s took %s", self.stage, took)
