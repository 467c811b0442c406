"""A DAG's stage table: what each stage notebook records, pulls and may connect to.

A DAG file declares its stages as :class:`Stage` rows and builds its tasks from
them, so the contract check can compare each declaration with its notebook.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator, TaskGroup, chain

from stagebook import params
from stagebook.orchestration import metrics
from stagebook.orchestration.metrics import Metric
from stagebook.orchestration.operators import StageNotebookOperator


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: its task, its notebook, and the contract between them.

    Args:
        task: the task id (inside the phase's task group for a phased stage).
        notebook: the notebook's name without ``.ipynb``, e.g. ``30-score``.
        records: the names the notebook records with ``stagebook.record``.
        pulls: parameter name -> the stage (task id, same phase) that records it.
        connections: params keys whose values are the Airflow connection ids the
            notebook may use, e.g. ``publish.redis_conn_id``.
        figure: ``(label, dotted record key)``: the one number the index shows for
            a try, e.g. ``("test AUC", "metrics.test_auc")``.
        optional: names in ``pulls`` that may be missing in a run (injected as None).
        outlet: the URI of the Airflow asset a successful try updates, ``{phase}``
            replaced, e.g. ``stagebook://models/{phase}``.
        lineage: the records (or injected values) the asset event's ``extra`` holds.
        trends: the metrics the trends page draws by date, e.g.
            ``(Metric("drift", "checks.drift", limit=("checks.max_drift", "max")),)``;
            the stage's duration is drawn too, declared or not.
        summary: the card's rows, the few figures a reviewer reads first:
            ``(label, dotted record key)`` pairs, e.g. ``(("rows", "scores.rows"),)``.
            None declared: the card lists the records that are a number or a text.
    """

    task: str
    notebook: str
    records: tuple[str, ...] = ()
    pulls: Mapping[str, str] = dataclasses.field(default_factory=dict)
    connections: tuple[str, ...] = ()
    figure: tuple[str, str] | None = None
    optional: tuple[str, ...] = ()
    outlet: str | None = None
    lineage: tuple[str, ...] = ()
    trends: tuple[Metric, ...] = ()
    summary: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        metrics.check(self.notebook, self.records, self.trends, self.summary)
        if self.figure and self.figure[1].split(".")[0] not in self.records:
            raise ValueError(
                f"stage {self.notebook}: figure {self.figure[1]!r} reads a record the stage "
                f"does not declare; its records are {', '.join(self.records) or 'none'}"
            )

    def operator(
        self, phase: str = "common", merged: params.Params | None = None, **kwargs: Any
    ) -> StageNotebookOperator:
        """Return the stage's task for ``phase``, with its retries and connection ids from ``merged``."""
        group = "" if phase == "common" else f"{phase}."
        merged = merged or params.load(None if phase == "common" else phase)
        kwargs.setdefault("retries", merged.pipeline.retries)
        kwargs.setdefault("retry_delay", dt.timedelta(seconds=merged.pipeline.retry_delay_s))
        if self.task in merged.pipeline.queues:  # else Airflow's [operators] default_queue
            kwargs.setdefault("queue", merged.pipeline.queues[self.task])
        return StageNotebookOperator(
            task_id=self.task,
            stage=self.notebook,
            phase=phase,
            records=self.records,
            pull={name: f"{group}{task}" for name, task in self.pulls.items()},
            connections=[params.value(merged, key) for key in self.connections],
            figure=self.figure,
            optional=self.optional,
            outlets=[asset(self.outlet, phase)] if self.outlet else [],
            lineage=self.lineage,
            trends=self.trends,
            summary=self.summary,
            **kwargs,
        )


def asset(uri: str, phase: str) -> Asset:
    """Return the Airflow asset of an outlet URI for ``phase``."""
    return Asset(uri.format(phase=phase))


@dataclasses.dataclass(frozen=True)
class Gate:
    """An approval between two stages: waits for a reviewer when ``checks`` recorded soft breaches.

    Args:
        task: the task id, e.g. ``approve``.
        checks: the stage whose ``soft_breaches``, ``approved_digest`` and ``checks``
            records the reviewer judges.
        timeout: the params key of the seconds an answer may take, e.g.
            ``checks.approval_timeout_s``; unanswered, it is a rejection.
        subject: the reviewer's question, with ``{phase}`` and ``{ds}``, e.g.
            ``Publish the {phase} scores of {ds}?`` (None: ``Publish {phase} of {ds}?``).
        what: what Approve publishes, as the reviewer reads it, e.g. ``these scores``
            (None: ``the results``).
    """

    task: str
    checks: Stage
    timeout: str
    subject: str | None = None
    what: str | None = None

    def __post_init__(self) -> None:
        try:
            (self.subject or "").format(phase="", ds="")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"gate {self.task}: subject {self.subject!r} may use only {{phase}} and "
                "{ds}; double any other brace"
            ) from None

    def operator(self, phase: str, merged: params.Params) -> BaseOperator:
        """Return the gate's task for ``phase``."""
        from stagebook.orchestration.approval import ApprovalGate

        return ApprovalGate(
            task_id=self.task,
            phase=phase,
            checks_task=f"{phase}.{self.checks.task}",
            checks_stage=self.checks.notebook,
            timeout_s=params.value(merged, self.timeout),
            timeout_key=self.timeout,
            **{k: v for k, v in (("subject", self.subject), ("what", self.what)) if v},
        )


def phase_chain(
    phase: str, stages: Sequence[Stage | Gate], merged: params.Params
) -> tuple[BaseOperator, BaseOperator]:
    """Add the task group ``phase``: its stages (and gates) one after the other; return the first and last."""
    with TaskGroup(group_id=phase):
        tasks = [stage.operator(phase, merged) for stage in stages]
        chain(*tasks)
    return tasks[0], tasks[-1]
