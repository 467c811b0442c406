"""The only loader of ``params/``: ``common.yaml`` merged with one file per phase.

Every mistake is reported with the file and the dotted key it is in, e.g.
``params/prod.yaml: train.base_lr: Input should be greater than 0``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stagebook import settings
from stagebook.errors import ParamsError, RunConfError

COMMON = "common"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    """Where the raw events come from."""

    source: Literal["movielens100k", "synthetic"] = "movielens100k"
    anchor_date: dt.date = dt.date(2019, 11, 20)
    events_per_day: int = Field(2000, gt=0)
    seed: int = 7
    n_users: int = Field(2000, gt=1)
    n_items: int = Field(500, gt=1)


class TablesParams(_Section):
    """The input tables built for one date."""

    train_days: int = Field(60, gt=1)


class FeaturesParams(_Section):
    """The field vocabularies of a phase."""

    min_count: int = Field(1, ge=1)


class TrainParams(_Section):
    """The field-aware factorization machine and its optimiser."""

    k: int = Field(4, gt=0)
    epochs: int = Field(8, gt=0)
    batch_size: int = Field(1024, gt=0)
    base_lr: float = Field(0.1, gt=0)
    lr_decay: float = Field(0.5, gt=0, le=1)
    l2: float = Field(2e-3, ge=0)
    patience: int = Field(2, ge=1)


class InferenceParams(_Section):
    """Scoring of target users against candidate items."""

    top_k: int = Field(10, gt=0)
    block_users: int = Field(1024, gt=0)
    mode: Literal["model", "popular"] = "model"


class ValidateParams(_Section):
    """Thresholds of the validation gate."""

    max_duplicates: int = Field(0, ge=0)
    min_user_coverage: float = Field(0.9, ge=0, le=1)
    min_catalogue_coverage: float = Field(0.02, ge=0, le=1)
    max_kl: float = Field(2.5, gt=0)
    max_js: float = Field(0.75, gt=0, le=1)
    smoothing: float = Field(1e-4, gt=0)
    history_days: int = Field(7, ge=1)


class PublishParams(_Section):
    """Where recommendations go."""

    sinks: list[Literal["outbox", "redis"]] = Field(["outbox"], min_length=1)
    redis_conn_id: str = "stagebook_redis"  # an Airflow connection: host, port, password, extra
    timeout_s: float = Field(5.0, gt=0, le=30)  # each network call to a sink, never retried in-try


class NotificationParams(_Section):
    """Who hears about task events and runs; credentials live in Airflow connections."""

    channels: list[Literal["log", "slack", "email", "webhook"]] = ["log"]
    events: list[Literal["success", "failure", "retry"]] = ["success", "failure", "retry"]
    slack_conn_id: str = "stagebook_slack"
    email_conn_id: str = "stagebook_smtp"
    email_to: list[str] = []
    email_from: str = "stagebook@localhost"
    webhook_conn_id: str = "stagebook_webhook"
    timeout_s: float = Field(10.0, gt=0, le=10)


class PipelineParams(_Section):
    """How Airflow runs the DAG; read when the DAG file is parsed."""

    phases: list[str] = ["prod", "beta"]
    retries: int = Field(1, ge=0)
    retry_delay_s: int = Field(300, ge=0)


class Params(_Section):
    """All parameters of one phase, after merging."""

    market: str = "TH"
    data: DataParams = DataParams()
    tables: TablesParams = TablesParams()
    features: FeaturesParams = FeaturesParams()
    train: TrainParams = TrainParams()
    inference: InferenceParams = InferenceParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    publish: PublishParams = PublishParams()
    notifications: NotificationParams = NotificationParams()
    pipeline: PipelineParams = PipelineParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def known_phases(folder: Path | None = None) -> list[str]:
    """Return the phases that have a params file, sorted."""
    folder = folder or settings.params_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != COMMON)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: must be a mapping of sections, got {type(data).__name__}")
    return data


def _merge(base: dict, top: Mapping, origin: str, origins: dict, prefix: tuple = ()) -> dict:
    """Deep-merge ``top`` over ``base``, noting in ``origins`` which source set each key."""
    out = dict(base)
    for key, value in top.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value, origin, origins, path)
        else:
            out[key] = value
            origins[path] = origin
    return out


def _origin(loc: tuple, origins: Mapping[tuple, str], default: str) -> str:
    for end in range(len(loc), 0, -1):
        if tuple(loc[:end]) in origins:
            return origins[tuple(loc[:end])]
    return default


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

    Raises:
        ParamsError: naming the file and the key of any mistake.
        RunConfError: for an unknown phase or an override of a key that does not exist.
    """
    folder = folder or settings.params_dir()
    common_path = folder / f"{COMMON}.yaml"
    origins: dict[tuple, str] = {}
    merged = _merge({}, _read(common_path), str(common_path), origins)
    if phase is not None:
        phases = known_phases(folder)
        if phase not in phases:
            raise RunConfError(
                f"unknown phase {phase!r}: known phases are {', '.join(phases)} "
                f"(one params file each in {folder})"
            )
        phase_path = folder / f"{phase}.yaml"
        merged = _merge(merged, _read(phase_path), str(phase_path), origins)
    if overrides:
        where = "run conf 'overrides'"
        nested = _nest(overrides, where)
        _check_known(nested, Params().model_dump(by_alias=True), where)
        merged = _merge(merged, nested, where, origins)
    try:
        return Params.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(part) for part in loc)
            lines.append(f"{_origin(loc, origins, str(common_path))}: {key}: {err['msg']}")
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines)) from None


def resolve_run_conf(conf: Mapping[str, Any] | None, folder: Path | None = None) -> list[str]:
    """Validate a run's conf and return the phases it runs.

    ``{"phases": [...]}`` picks phases (default: ``pipeline.phases`` in params);
    ``{"overrides": {"section.key": value}}`` must name keys that exist, and the
    merged params of every chosen phase must validate.
    """
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
    for phase in phases:
        load(phase, overrides, folder)
    return list(phases)
