"""A pipeline's declaration: its stage table, schedule, timezone, deadline and gates, as data.

A pipeline is a folder, ``pipelines/<name>/``: its ``pipeline.py`` declares one
:class:`Pipeline` named ``PIPELINE``, beside its ``notebooks/`` and ``params/``.
Nothing here imports Airflow: :mod:`stagebook.orchestration.factory` builds the
DAG, the contract check compares each :class:`Stage` with its notebook, and the
reviewing app reads what a stage declared from each try's sidecar.

```python
PIPELINE = Pipeline(
    schedule="0 6 * * *",  # data intervals: the 06:00 run processes the day before
    timezone="America/Los_Angeles",
    start="2015-06-01",
    stages=(Stage("observe", "00-observe", records=("rows",)), ...),
)
```
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path

from stagebook import metrics
from stagebook.metrics import Metric

__all__ = ["Gate", "Metric", "Pipeline", "Stage"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
PUBLISH = "publish"  # the task a publish_by deadline waits for


def _check_pulls(table: tuple[Stage | Gate, ...]) -> None:
    """Raise ``ValueError`` naming a pull whose task does not run earlier in the same table."""
    earlier: set[str] = set()
    for stage in table:
        for name, task in getattr(stage, "pulls", {}).items():
            if task not in earlier:
                raise ValueError(
                    f"stage {stage.task}: pulls {name!r} from {task!r}, which is not a stage "
                    "before it in the same table (stages, or phase_stages); fix the task id"
                )
        earlier.add(stage.task)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: its task, its notebook, and the contract between them.

    Args:
        task: the task id (inside the phase's task group for a phased stage).
        notebook: the stage source's name without ``.py``, e.g. ``30-score``.
        records: the names the notebook records with ``stagebook.record``.
        pulls: parameter name -> the stage (task id, same phase) that records it.
        connections: params keys whose values are the Airflow connection ids the
            notebook may use, e.g. ``publish.redis_conn_id``.
        figure: ``(label, dotted record key)``: the one number the index shows for
            a try, e.g. ``("MAE", "checks.mae")``.
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
        approvers: the params key of the users who may answer, e.g.
            ``checks.approvers`` (a list of Airflow user ids; None or empty: anyone
            with edit rights on the DAG).
    """

    task: str
    checks: Stage
    timeout: str
    subject: str | None = None
    what: str | None = None
    approvers: str | None = None

    def __post_init__(self) -> None:
        try:
            (self.subject or "").format(phase="", ds="")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"gate {self.task}: subject {self.subject!r} may use only {{phase}} and "
                "{ds}; double any other brace"
            ) from None


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """A pipeline as its folder's ``pipeline.py`` declares it.

    Args:
        schedule: a cron expression in ``timezone``, with data-interval semantics:
            ``"0 10 * * *"`` runs at 10:00 for the day before; None: triggered only.
        timezone: the IANA zone of the schedule and of the business dates.
        start: the first date the schedule covers, ``YYYY-MM-DD``.
        stages: the stages (and gates) that run first, once per run (phase ``common``).
        phase_stages: the stages run once per phase, after the branch on the run's
            phases; a phase is a file ``params/<phase>.yaml``. None: no branch.
        dag_id: the DAG's id; default the folder's name.
        description: what the DAG page says, Markdown (default the module's docstring).
        tags: the DAG's tags in the UI (``stagebook`` is always one).
        publish_by: ``("HH:MM", days after ds)``: a phase not finished by then, in
            ``timezone``, is notified once (evaluated by a served scheduler).
        max_active_runs: runs at once; one per date is enforced anyway.
        run_timeout_h: a run still going after this many hours fails.
        name, folder: set by :mod:`stagebook.pipelines` when it loads the folder.
    """

    schedule: str | None
    timezone: str
    start: str
    stages: tuple[Stage | Gate, ...]
    phase_stages: tuple[Stage | Gate, ...] = ()
    dag_id: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    publish_by: tuple[str, int] | None = None
    max_active_runs: int = 1
    run_timeout_h: float = 6.0
    name: str = ""
    folder: Path | None = None

    def __post_init__(self) -> None:
        try:
            dt.date.fromisoformat(self.start)
        except (TypeError, ValueError):
            raise ValueError(
                f"start {self.start!r} is not a date; write it as YYYY-MM-DD"
            ) from None
        if not self.stages:
            raise ValueError("stages is empty; declare at least one Stage")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"timezone {self.timezone!r} is not an IANA zone; write e.g. 'Europe/Paris'"
            ) from None
        self._check_deadline()
        for table in (self.stages, self.phase_stages):
            _check_pulls(table)

    def _check_deadline(self) -> None:
        if self.publish_by is None:
            return
        if not (len(self.publish_by) == 2 and _HHMM.match(str(self.publish_by[0]))):
            raise ValueError(
                f"publish_by {self.publish_by!r}: write it as ('HH:MM', days after ds)"
            )
        if PUBLISH not in {s.task for s in (*self.stages, *self.phase_stages)}:
            raise ValueError(
                f"publish_by needs a stage whose task is {PUBLISH!r}: the deadline waits for it"
            )

    @property
    def id(self) -> str:
        """Return the DAG id: the declared one, else the folder's name."""
        return self.dag_id or self.name

    @property
    def every_stage(self) -> tuple[Stage, ...]:
        """Return the stages that run a notebook, common ones first."""
        return tuple(s for s in (*self.stages, *self.phase_stages) if isinstance(s, Stage))

    def notebook(self, stage: str) -> Path:
        """Return the committed source of stage ``stage`` (``NN-name``): a percent script."""
        assert self.folder is not None, "a declaration is loaded by stagebook.pipelines"
        return self.folder / "notebooks" / f"{stage}.py"  # stagebook.notebook.SOURCE
