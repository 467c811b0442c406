"""The params files as YAML: read one with a one-line error, merge several noting who set what.

:mod:`stagebook.params` is the loader; this module only reads and merges the
files, so that every mistake in them can be reported on one line naming the
file (and, for a YAML syntax error, the line and column).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stagebook.errors import ParamsError


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Return a YAML error on one line, e.g. ``at line 3, column 1: expected ',' or ']' ...``.

    PyYAML's own message spans several lines and quotes the source; this keeps
    the problem, where it is, and the construct it was in.
    """
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    where = f"at {_at(exc.problem_mark)}: " if exc.problem_mark is not None else ""
    text = f"{where}{exc.problem or 'malformed'}"
    if exc.context:
        context = f" at {_at(exc.context_mark)}" if exc.context_mark is not None else ""
        text += f" ({exc.context}{context})"
    return " ".join(text.split())


# libyaml's safe loader when PyYAML has it: about ten times faster, and params are read
# by every task and kernel (a run reads them some thirty times).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read(path: Path) -> dict[str, Any]:
    """Return the sections of one params file.

    Raises:
        ParamsError: in one line naming the file: it is missing, is not valid
            YAML (with the line and column), or is not a mapping of sections.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    try:
        data = yaml.load(text, Loader=SAFE_LOADER) or {}
    except yaml.YAMLError:
        try:  # the pure-Python loader names the problem more precisely: read it again for that
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ParamsError(f"{path}: not valid YAML {yaml_problem(exc)}; fix the file") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: must be a mapping of sections, got {type(data).__name__}")
    return data


def merge(base: dict, top: Mapping, origin: str, origins: dict, prefix: tuple = ()) -> dict:
    """Deep-merge ``top`` over ``base``, noting in ``origins`` which source set each key."""
    out = dict(base)
    for key, value in top.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value, origin, origins, path)
        else:
            out[key] = value
            origins[path] = origin
    return out


def origin(loc: tuple, origins: Mapping[tuple, str], default: str) -> str:
    """Return the file that set ``loc``: for a section, the last file that set a key inside it."""
    inside = [o for key, o in origins.items() if len(key) > len(loc) and key[: len(loc)] == loc]
    if inside:
        return inside[-1]
    for end in range(len(loc), 0, -1):
        if tuple(loc[:end]) in origins:
            return origins[tuple(loc[:end])]
    return default
