"""Two runs side by side: the parameters, params, records and code of each stage, and what changed.

Read from the tries' sidecars (:mod:`stagebook.orchestration.reviewing.review`), as the
index is; only a stage whose code changed has its two notebooks read, for the diff of
their code (:mod:`stagebook.orchestration.reviewing.codediff`). Shown by the app's
compare page (:mod:`stagebook.orchestration.reviewing.web`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stagebook import params, pipelines, reports, settings
from stagebook.errors import ParamsError, StagebookError
from stagebook.orchestration.reviewing import codediff, review


def run_tries(
    found: Iterable[review.Try], dag_id: str, run_id: str
) -> dict[tuple[str, str], review.Try]:
    """Return (phase, stage) -> the latest try of each stage that run ``run_id`` archived."""
    mine: dict[tuple[str, str], review.Try] = {}
    for t in found:
        if t.dag_id == dag_id and t.info.get("run_id") == run_id:
            key = (t.phase, t.stage)
            if key not in mine or t.number > mine[key].number:
                mine[key] = t
    return dict(sorted(mine.items()))


def latest_run(found: Iterable[review.Try], before: str | None = None) -> str | None:
    """Return the run id of the latest run of the latest date (before ``before``, if given)."""
    found = [t for t in found if before is None or t.ds < before]
    if not found:
        return None
    ds = max(t.ds for t in found)
    return max((t for t in found if t.ds == ds), key=lambda t: t.started).info.get("run_id")


def previous_run(found: Iterable[review.Try], dag_id: str, run_id: str) -> str | None:
    """Return the run to compare ``run_id`` with: the latest run of the previous date it has."""
    found = [t for t in found if t.dag_id == dag_id]
    mine = [t.ds for t in found if t.info.get("run_id") == run_id]
    return latest_run(found, before=min(mine)) if mine else None


def merged_params(t: review.Try | None) -> dict[str, Any]:
    """Return the params a try ran with (its run's overrides merged), flattened.

    From its sidecar; a try archived before sidecars kept them gets today's params
    files under its overrides. Empty if there is no try, or the files are unreadable.
    """
    if t is None:
        return {}
    if isinstance(t.info.get("params"), Mapping):
        return reports.flatten(t.info["params"])
    overrides = (t.info.get("parameters") or {}).get("overrides") or {}
    try:  # an older try's sidecar keeps no params: its pipeline's files, as they are now
        pipeline = pipelines.declaring(t.dag_id)
    except StagebookError:
        return {}  # the project's pipelines cannot be loaded: `stagebook check` says why
    if pipeline is None:
        return {}  # a DAG no pipeline declares (any more)
    folder = settings.params_dir(pipeline.name)
    version = _params_version(folder)
    return dict(_merged(str(folder), t.phase, json.dumps(overrides, sort_keys=True), version))


def _params_version(folder: Path) -> tuple[tuple[str, int], ...]:
    """Return the params files' names and mtimes: a changed file is read again."""
    return tuple(sorted((f.name, f.stat().st_mtime_ns) for f in folder.glob("*.yaml")))


@functools.lru_cache(maxsize=64)
def _merged(folder: str, phase: str, overrides: str, version: tuple) -> tuple[tuple[str, Any], ...]:
    """Return a phase's params under ``overrides`` (JSON), flattened; ``version``: the files'."""
    try:
        loaded = params.load(
            None if phase == "common" else phase, json.loads(overrides) or None, Path(folder)
        )
    except ParamsError:
        return ()
    return tuple(reports.flatten(loaded.model_dump(mode="json")).items())


@dataclasses.dataclass(frozen=True)
class Row:
    """One compared value: ``changed`` when a and b differ; ``delta`` for two numbers."""

    key: str
    a: Any
    b: Any

    @property
    def changed(self) -> bool:
        """Return whether a and b differ."""
        return self.a != self.b

    @property
    def delta(self) -> float | None:
        """Return b - a when both are numbers, else None."""
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (self.a, self.b)
        )
        return float(self.b) - float(self.a) if numbers else None


def diff(a: Mapping[str, Any], b: Mapping[str, Any], skip: Iterable[str] = ()) -> list[Row]:
    """Return every key of ``a`` or ``b`` (but ``skip``) as a row, in key order."""
    keys = sorted((set(a) | set(b)) - set(skip))
    return [Row(k, a.get(k), b.get(k)) for k in keys]


@dataclasses.dataclass
class StageComparison:
    """One stage of one phase in two runs: injected parameters, merged params, records, code."""

    phase: str
    stage: str
    a: review.Try | None
    b: review.Try | None
    parameters: list[Row]
    params: list[Row]
    metrics: list[Row]
    code: codediff.CodeChange


# injected values that differ between any two runs by design
_ALWAYS_DIFFERENT = ("run_id", "try_number")


def compare(found: Iterable[review.Try], dag_id: str, a: str, b: str) -> list[StageComparison]:
    """Return each stage of each phase of run ``a`` or run ``b``, compared.

    Raises:
        review.Unknown: a run that archived nothing for ``dag_id``.
    """
    found = list(found)
    tries = {}
    for name, run_id in (("a", a), ("b", b)):
        tries[name] = run_tries(found, dag_id, run_id)
        if not tries[name]:
            raise review.Unknown(f"unknown run {run_id!r} of {dag_id}: it archived no report")
    out = []
    for phase, stage in sorted(set(tries["a"]) | set(tries["b"])):
        ta, tb = tries["a"].get((phase, stage)), tries["b"].get((phase, stage))
        out.append(
            StageComparison(
                phase,
                stage,
                ta,
                tb,
                parameters=diff(_injected(ta), _injected(tb), _ALWAYS_DIFFERENT),
                params=[r for r in diff(merged_params(ta), merged_params(tb)) if r.changed],
                metrics=diff(_recorded(ta), _recorded(tb)),
                code=codediff.change(ta, tb),
            )
        )
    return out


def _injected(t: review.Try | None) -> dict[str, Any]:
    return reports.flatten(t.info.get("parameters") or {}) if t else {}


def _recorded(t: review.Try | None) -> dict[str, Any]:
    """Return a try's records (flattened) and its duration: what it measured."""
    if t is None:
        return {}
    found = reports.flatten(t.info.get("records") or {})
    found["duration_s"] = t.info.get("duration_s")
    return {k: v for k, v in found.items() if isinstance(v, int | float | str | None)}
