"""Sanitizing what a report's template builds outside the HTML sanitizer's reach.

nbconvert's template writes some attributes from output metadata, not from an
output's HTML: an image's ``width`` and ``height`` (unquoted, so ``"1 onerror=..."``
becomes an event handler), its file name as ``src``. :func:`notebook` makes that
metadata plain before rendering; :func:`page` then drops, from every element of the
rendered page, any event handler or script link, whatever path put it there.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

SIZES = ("width", "height")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Where a browser follows a URL: a ``javascript:`` one there runs script.
_LINKS = frozenset({"href", "src", "action", "formaction", "xlink:href", "srcset", "data"})


def _number(value: Any) -> str | None:
    """Return a size as a plain number (``640``, ``"480"``, ``12.5``), or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    return text if _NUMBER.fullmatch(text) else None


def _sizes(scope: MutableMapping[str, Any]) -> None:
    """Keep ``width`` and ``height`` in one metadata mapping only as plain numbers."""
    for key in SIZES:
        if key in scope:
            number = _number(scope[key])
            if number is None:
                del scope[key]
            else:
                scope[key] = number


def output_metadata(output: MutableMapping[str, Any]) -> None:
    """Make one output's metadata safe for the template, in place.

    Sizes become plain numbers or go; file names go (the data is embedded, and a
    path or URL would load something); a per-type entry that is not a mapping goes
    (the template's ``get_metadata`` would fail on it).
    """
    output.pop("svg_filename", None)
    metadata = output.get("metadata")
    if not isinstance(metadata, MutableMapping):
        output.pop("metadata", None)
        return
    metadata.pop("filenames", None)
    _sizes(metadata)
    for key in [k for k in metadata if "/" in k]:
        if isinstance(metadata[key], MutableMapping):
            _sizes(metadata[key])
        else:
            del metadata[key]


def notebook(nb: Any) -> Any:
    """Return ``nb`` with every output's metadata made safe for the template (in place)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output_metadata(output)
    return nb


def _unsafe(tag: str, name: str, value: str) -> bool:
    """Whether an attribute may run script or load something: handlers, script links, sizes."""
    name = name.lower()
    if name.startswith("on"):
        return True
    link = re.sub(r"[\s\x00-\x1f]+", "", value).lower()
    if name in _LINKS and link.startswith(("javascript:", "vbscript:")):
        return True
    if tag == "img" and name in ("src", "srcset"):  # an image is its own data, never a URL
        return name == "srcset" or not link.startswith("data:image/")
    return tag == "img" and name in SIZES and _number(value) is None


def page(text: str) -> str:
    """Return a rendered page without event handlers, script links or non-number image sizes."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, features="html.parser")
    for element in soup.find_all(True):
        for name in [n for n, v in element.attrs.items() if _unsafe(element.name, n, str(v))]:
            del element[name]
    return str(soup)
