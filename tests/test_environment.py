"""environment.yml (conda) and pyproject.toml + uv.lock (uv) describe one environment."""

import re
import tomllib

import yaml

from stagebook import settings


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def test_conda_and_uv_list_the_same_direct_dependencies_at_the_locked_versions():
    project = tomllib.loads((settings.root() / "pyproject.toml").read_text())
    direct = [*project["project"]["dependencies"], *project["dependency-groups"]["dev"]]
    lock = tomllib.loads((settings.root() / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}

    env = yaml.safe_load((settings.root() / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {name_of(r): r.split("==")[1] for r in pip if "==" in r}

    assert {name_of(r) for r in direct} == set(conda_pins)
    for name, version in conda_pins.items():
        assert locked[name] == version, (
            f"environment.yml pins {name}=={version}, uv.lock has {locked[name]}"
        )
    assert "python=3.11" in env["dependencies"]
