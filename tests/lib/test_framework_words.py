"""The framework floors name no application: a pipeline's words live in the pipeline."""

import re
from pathlib import Path

import pytest

import stagebook

CORE = Path(stagebook.__file__).parent
SOURCES = {".py", ".yaml", ".html", ".css", ".js", ".md", ".txt", ".tmpl", ".json", ".toml", ".j2"}
FLOORS = sorted(p for p in CORE.rglob("*") if p.suffix in SOURCES and "__pycache__" not in p.parts)
WORDS = re.compile(
    r"recsys|recommendation|ffm|model_signature|outbox|movielens|asia/tokyo|20-train|40-validate"
    r"|seattle|vega|backtest|temp_max",
    re.IGNORECASE,
)


@pytest.mark.parametrize("module", FLOORS, ids=lambda p: str(p.relative_to(CORE.parent)))
def test_a_framework_module_names_no_application(module):
    found = [
        f"{module.name}:{number}: {line.strip()}"
        for number, line in enumerate(module.read_text().splitlines(), start=1)
        if WORDS.search(line)
    ]
    assert found == []
