"""The only loader of a pipeline's ``params/``: ``common.yaml`` merged with one file per phase.

The framework's ``defaults.yaml`` holds the sections every pipeline has;
``common.yaml`` is merged over it, states every key of the pipeline's own
sections and its default, and names the schema that validates them
(``schema: package.module:Class``, a subclass of :class:`Params`); a phase file
overrides any key. A pipeline without ``params/`` runs with the defaults alone.
Every mistake is reported with the file and the dotted key it is in, e.g.
``params/prod.yaml: train.base_lr: Input should be greater than 0``. The base
schema is :mod:`stagebook.schema`; what a run's conf may override is checked by
:mod:`stagebook.runconf`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stagebook import paramfiles, pipelines, runconf, settings
from stagebook.errors import ParamsError, PipelineError, RunConfError
from stagebook.schema import Params  # also public here: schemas subclass stagebook.params.Params
from stagebook.schema import Section as Section  # public: an application's sections subclass it

log = logging.getLogger("stagebook.params")

COMMON = "common"
SCHEMA = "schema"
DEFAULTS = Path(__file__).with_name("defaults.yaml")


def known_phases(folder: Path | None = None) -> list[str]:
    """Return the phases that have a params file, sorted."""
    folder = folder or settings.params_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != COMMON)


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
    folder = path.parent.parent  # params/common.yaml of a pipeline's folder: its package there
    if (folder / settings.DECLARATION).is_file():
        pipelines.importable(folder)
    else:  # a params folder elsewhere (STAGEBOOK_PARAMS_<NAME>): the current pipeline's
        with contextlib.suppress(PipelineError):
            pipelines.importable(pipelines.folder(settings.pipeline_name()))
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
    origins: dict[tuple, str] = {}
    merged = paramfiles.merge({}, paramfiles.read(DEFAULTS), str(DEFAULTS), origins)
    if folder.is_dir():
        common = paramfiles.read(common_path)
        schema = _schema(common, common_path)
        merged = paramfiles.merge(merged, common, str(common_path), origins)
    else:
        schema = Params
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
    runconf.check_allowlist(base, str(common_path if phase is None else folder / f"{phase}.yaml"))
    if not overrides:
        return base
    where = "run conf 'overrides'"
    nested = runconf.checked(overrides, base, where)
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
