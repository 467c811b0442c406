"""The only loader of ``params/``: ``common.yaml`` merged with one file per phase.

``common.yaml`` states every key and its default, and names the schema that
validates them (``schema: package.module:Class``, a subclass of :class:`Params`);
a phase file overrides any key. Every mistake is reported with the file and the
dotted key it is in, e.g. ``params/prod.yaml: train.base_lr: Input should be
greater than 0``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from stagebook import paramfiles, settings, storage
from stagebook.errors import ParamsError, RunConfError

log = logging.getLogger("stagebook.params")

COMMON = "common"
SCHEMA = "schema"


class Section(BaseModel):
    """A section of params: unknown keys are errors, values are read-only, no bool is a number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError("a number is expected, not true or false")
        return value


class NotificationParams(Section):
    """Who hears about task events and runs; credentials live in Airflow connections."""

    channels: list[Literal["log", "slack", "email", "webhook"]]
    events: list[Literal["success", "failure", "retry"]]
    slack_conn_id: str
    email_conn_id: str
    email_to: list[str]
    email_from: str
    webhook_conn_id: str
    timeout_s: float = Field(gt=0, le=10)


class PipelineParams(Section):
    """How Airflow runs the DAG; read when the DAG file is parsed."""

    phases: list[str]
    retries: int = Field(ge=0, le=20)
    retry_delay_s: int = Field(ge=0, le=86_400)
    cell_timeout_s: int = Field(ge=1, le=86_400)
    start_timeout_s: int = Field(ge=1, le=600)
    overridable: list[str]  # the sections or section.keys a run's conf may override
    queues: dict[str, str]  # stage task -> Celery queue (default: Airflow's default queue)


class Params(Section):
    """The params every pipeline has; an application's schema adds its own sections.

    The defaults are stated once, in ``common.yaml``: a model only validates.
    A run's conf may override only what ``pipeline.overridable`` lists.
    ``protected`` names the sections (or keys) that come only from the params
    files, with the reason: the allowlist can never open them.
    """

    protected: ClassVar[Mapping[str, str]] = {
        "pipeline": "the DAG reads it when its file is parsed",
        "notifications": "who hears about a run is not the run's to choose",
    }

    notifications: NotificationParams
    pipeline: PipelineParams

    def seed(self, ds: dt.date) -> int:
        """Return the seed of a stage's random generators for ``ds``."""
        return ds.toordinal()

    def latest_complete_date(self, today: dt.date) -> dt.date:
        """Return the newest date a run can process on ``today``: yesterday by default."""
        return today - dt.timedelta(days=1)

    def paths(self, ds: dt.date, phase: str, home: Path | None = None) -> storage.Paths:
        """Return a stage's paths for ``ds`` and ``phase``: a pipeline returns its own subclass."""
        return storage.paths(ds, phase, home)


def known_phases(folder: Path | None = None) -> list[str]:
    """Return the phases that have a params file, sorted."""
    folder = folder or settings.params_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != COMMON)


def _nest(dotted: Mapping[str, Any], where: str) -> dict:
    nested: dict = {}
    for key, value in dotted.items():
        parts = str(key).split(".")
        if len(parts) < 2 or not all(parts):
            raise RunConfError(
                f"{where}: override key {key!r} must be 'section.key', e.g. 'train.base_lr'"
            )
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def parse_override(pair: str, option: str = "--set") -> tuple[str, Any]:
    """Return the key and value of one ``section.key=value`` pair, the value read as YAML.

    ``train.epochs=2`` gives ``("train.epochs", 2)``. Only plain YAML is read
    (``yaml.safe_load``): no aliases to nowhere, no Python tags.

    Raises:
        ParamsError: in one line naming ``option`` and the pair, and what to write instead.
    """
    key, sep, text = pair.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or len(parts) < 2 or not all(parts):
        raise ParamsError(f"{option} {pair!r}: expected section.key=value, e.g. train.epochs=2")
    try:
        return key, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(
            f"{option} {pair!r}: the value is not plain YAML ({paramfiles.yaml_problem(exc)}); "
            "give a number, true/false or a list such as [1, 2]; to mean the text, quote it: "
            f"{option} '{key}={json.dumps(text)}'"
        ) from None


def _known(model: type[BaseModel]) -> dict[str, Any]:
    """Return the keys of a schema as a nested dict (a section maps to its own keys)."""
    known: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        nested = isinstance(kind, type) and issubclass(kind, BaseModel)
        known[field.alias or name] = _known(kind) if nested else None
    return known


def _check_known(overrides: Mapping, known: Mapping, where: str, prefix: str = "") -> None:
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            keys = ", ".join(f"{prefix}{k}" for k in sorted(known))
            raise RunConfError(f"{where}: unknown key {dotted!r}; known keys here: {keys}")
        if isinstance(value, Mapping):
            if not isinstance(known[key], Mapping):
                raise RunConfError(f"{where}: {dotted!r} is a value, not a section")
            _check_known(value, known[key], where, f"{dotted}.")


def _under(key: str, sections: Iterable[str]) -> str | None:
    """Return the entry of ``sections`` that ``key`` is or lies under, e.g. ``train`` for ``train.k``."""
    return next((s for s in sections if key == s or key.startswith(f"{s}.")), None)


def _check_allowlist(merged: Params, where: str) -> None:
    """``pipeline.overridable`` names known keys, none of them protected."""
    known = _known(type(merged))
    for entry in merged.pipeline.overridable:
        node: Any = known
        for part in entry.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ParamsError(f"{where}: pipeline.overridable: unknown key {entry!r}")
            node = node[part]
        hit = _under(entry, merged.protected) or next(
            (p for p in merged.protected if p.startswith(f"{entry}.")), None
        )
        if hit is not None:
            raise ParamsError(
                f"{where}: pipeline.overridable: {entry!r} would let a run override {hit!r}, "
                f"which comes only from the params files ({merged.protected[hit]})"
            )


def _check_overridable(overrides: Mapping, base: Params, where: str) -> None:
    allowed = base.pipeline.overridable
    for key in map(str, overrides):
        hit = _under(key, base.protected)
        if hit is not None:
            raise RunConfError(
                f"{where}: {key!r} cannot be overridden by a run: {base.protected[hit]}; "
                "change it in the params files instead"
            )
        if _under(key, allowed) is None:
            raise RunConfError(
                f"{where}: {key!r} cannot be overridden by a run: a run may override only "
                f"{', '.join(allowed) or 'nothing'} (pipeline.overridable in the params files)"
            )


def _validated(schema: type[Params], merged: dict, origins: Mapping, default: str) -> Params:
    try:
        return schema.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(part) for part in loc)
            lines.append(f"{paramfiles.origin(loc, origins, default)}: {key}: {err['msg']}")
        raise ParamsError("\n".join(lines)) from None  # one line per mistake, each on its own


def _schema(common: dict[str, Any], path: Path) -> type[Params]:
    """Return the class named by ``schema:`` in ``common.yaml`` (default :class:`Params`)."""
    name = common.pop(SCHEMA, None)
    if name is None:
        return Params
    module, _, attr = str(name).partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ParamsError(
            f"{path}: {SCHEMA}: cannot import {name!r} ({exc}); name a class as package.module:Class"
        ) from None
    if not (isinstance(found, type) and issubclass(found, Params)):
        raise ParamsError(
            f"{path}: {SCHEMA}: {name!r} is not a subclass of stagebook.params.Params"
        )
    return found


def load(
    phase: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    folder: Path | None = None,
) -> Params:
    """Load ``common.yaml``, the phase's file over it, then dotted ``overrides`` over both.

    Args:
        phase: a phase with a params file (``prod``, ``beta``), or None for common only.
        overrides: ``{"train.base_lr": 0.01}``, as a run's conf carries them.
        folder: the params folder; default ``settings.params_dir()``.

    Returns:
        An instance of the schema ``common.yaml`` names.

    Raises:
        ParamsError: naming the file and the key of any mistake.
        RunConfError: for an unknown phase, an override of a key that does not exist,
            or of one that ``pipeline.overridable`` does not list.
    """
    folder = folder or settings.params_dir()
    common_path = folder / f"{COMMON}.yaml"
    common = paramfiles.read(common_path)
    schema = _schema(common, common_path)
    origins: dict[tuple, str] = {}
    merged = paramfiles.merge({}, common, str(common_path), origins)
    if phase is not None:
        phases = known_phases(folder)
        if phase not in phases:
            raise RunConfError(
                f"unknown phase {phase!r}: known phases are {', '.join(phases)} "
                f"(one params file each in {folder})"
            )
        phase_path = folder / f"{phase}.yaml"
        merged = paramfiles.merge(merged, paramfiles.read(phase_path), str(phase_path), origins)
    base = _validated(schema, merged, origins, str(common_path))
    _check_allowlist(base, str(common_path if phase is None else folder / f"{phase}.yaml"))
    if not overrides:
        return base
    where = "run conf 'overrides'"
    nested = _nest(overrides, where)
    _check_known(nested, _known(schema), where)
    _check_overridable(overrides, base, where)
    return _validated(
        schema, paramfiles.merge(merged, nested, where, origins), origins, str(common_path)
    )


def load_or_common(phase: str | None, folder: Path | None = None) -> Params:
    """Return the phase's params, or ``common.yaml``'s alone when the phase's file is invalid.

    For what must go on even then: building the DAG (a malformed ``beta.yaml``
    must not take ``prod`` down) and notifying of that phase's failure. The
    phase's own tasks still load it strictly, and fail naming the file and key.
    """
    try:
        return load(phase, folder=folder)
    except ParamsError as exc:
        if phase is None or phase not in known_phases(folder):
            raise
        log.warning("%s\nPhase %s falls back to common.yaml here; its tasks fail.", exc, phase)
        return load(None, folder=folder)


def value(merged: Params, dotted: str) -> Any:
    """Return the value of a dotted key, e.g. ``value(p, "publish.redis_conn_id")``."""
    found: Any = merged
    for part in dotted.split("."):
        if not hasattr(found, part):
            raise ParamsError(f"params have no key {dotted!r}")
        found = getattr(found, part)
    return found


def resolve_run_conf(conf: Mapping[str, Any] | None, folder: Path | None = None) -> list[str]:
    """Validate a run's conf and return the phases it runs.

    ``{"phases": [...]}`` picks phases (default: ``pipeline.phases`` in params);
    ``{"overrides": {"section.key": value}}`` must name keys that exist and that
    ``pipeline.overridable`` lists, and the merged params of every chosen phase
    must validate. A phase whose own params file is invalid is not the conf's
    fault: its tasks fail, naming the file and key, and the other phases run.
    """
    if conf is not None and not isinstance(conf, Mapping):
        raise RunConfError(f"run conf must be a mapping, got {type(conf).__name__}")
    conf = dict(conf or {})
    unknown = set(conf) - {"phases", "overrides", "ds"}
    if unknown:
        raise RunConfError(
            f"run conf: unknown keys {sorted(unknown)}; allowed are 'phases', 'overrides', 'ds'"
        )
    common = load(None, folder=folder)
    phases = conf.get("phases") or common.pipeline.phases
    if isinstance(phases, str):
        phases = [p.strip() for p in phases.split(",") if p.strip()]
    if not isinstance(phases, list) or not all(isinstance(p, str) for p in phases):
        raise RunConfError(
            f"run conf 'phases' must be a list of phase names, e.g. [\"beta\"]; got {phases!r}"
        )
    known = known_phases(folder)
    bad = [p for p in phases if p not in known]
    if bad:
        raise RunConfError(
            f"run conf 'phases': unknown phase(s) {', '.join(map(repr, bad))}; "
            f"known phases are {', '.join(known)}"
        )
    overrides = conf.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise RunConfError("run conf 'overrides' must be a mapping of 'section.key' to value")
    load(None, overrides, folder)
    for phase in phases:
        try:
            load(phase, folder=folder)
        except ParamsError:
            continue  # the phase's own file is invalid: its tasks fail, the other phases run
        load(phase, overrides, folder)
    return list(phases)
