"""What a run's conf may override: ``section.key=value`` pairs, checked against the schema.

An override must name a key the schema has, that ``pipeline.overridable``
lists, and that :attr:`Params.protected <stagebook.schema.Params.protected>`
does not keep for the params files. :mod:`stagebook.params` applies them
(``load(phase, overrides)``) and validates a whole run conf (``resolve_run_conf``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from stagebook import limits, paramfiles
from stagebook.errors import ParamsError, RunConfError
from stagebook.schema import Params


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


def checked(overrides: Mapping[str, Any], base: Params, where: str) -> dict:
    """Return dotted ``overrides`` nested by section, once a run may set each of them.

    Raises:
        RunConfError: naming ``where`` and the first key that does not exist in the
            schema of ``base``, is protected, or is not in ``pipeline.overridable``.
    """
    nested = _nest(overrides, where)
    _check_known(nested, _known(type(base)), where)
    _check_overridable(overrides, base, where)
    return nested


def check_allowlist(merged: Params, where: str) -> None:
    """Check that ``pipeline.overridable`` names known keys, none of them protected.

    Raises:
        ParamsError: naming ``where`` (the params file) and the entry at fault.
    """
    known = _known(type(merged))
    for entry in merged.pipeline.overridable:
        node: Any = known
        for part in entry.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ParamsError(f"{where}: pipeline.overridable: unknown key {entry!r}")
            node = node[part]
        kept = protected(merged)
        hit = _under(entry, kept) or next((p for p in kept if p.startswith(f"{entry}.")), None)
        if hit is not None:
            raise ParamsError(
                f"{where}: pipeline.overridable: {entry!r} would let a run override {hit!r}, "
                f"which comes only from the params files ({kept[hit]})"
            )


def protected(params: Params) -> dict[str, str]:
    """Return what only the params files set: ``params.protected``, and each gate's ``approvers``."""
    kept = dict(params.protected)
    for name, field in type(params).model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, limits.Limits):
            kept[f"{field.alias or name}.approvers"] = "who may approve is not the run's to choose"
    return kept


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


def _check_overridable(overrides: Mapping, base: Params, where: str) -> None:
    allowed = base.pipeline.overridable
    kept = protected(base)
    for key in map(str, overrides):
        hit = _under(key, kept)
        if hit is not None:
            raise RunConfError(
                f"{where}: {key!r} cannot be overridden by a run: {kept[hit]}; "
                "change it in the params files instead"
            )
        if _under(key, allowed) is None:
            raise RunConfError(
                f"{where}: {key!r} cannot be overridden by a run: a run may override only "
                f"{', '.join(allowed) or 'nothing'} (pipeline.overridable in the params files)"
            )
