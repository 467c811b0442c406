"""environment.yml (conda) and pyproject.toml + uv.lock (uv) describe one environment."""

import re
import tomllib

import yaml

from stagebook import settings


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def test_conda_and_uv_list_the_same_direct_dependencies_at_the_locked_versions():
    project = tomllib.loads((settings.root() / "pyproject.toml").read_text())
    # the framework, its cluster extra, and the groups uv installs by default (the example
    # pipelines', the development tools); the group that names the project itself aside
    groups = project["dependency-groups"]
    direct = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["cluster"],
        *(r for g in project["tool"]["uv"]["default-groups"] for r in groups[g]),
    ]
    direct = [r for r in direct if name_of(r) != project["project"]["name"]]
    lock = tomllib.loads((settings.root() / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}

    text = (settings.root() / "environment.yml").read_text()
    env = yaml.safe_load(text)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {name_of(r): r.split("==")[1] for r in pip if "==" in r}
    # what the header installs by hand, with --no-deps (recbole is not a uv dependency either)
    by_hand = dict(re.findall(r"^#   pip install --no-deps ([\w.-]+)==([\w.]+)", text, re.M))
    by_hand.pop("recbole")
    # uv's overrides pin a dependency's dependency without its extras: conda lists it
    overridden = {name_of(r) for r in project["tool"]["uv"]["override-dependencies"]}

    assert {name_of(r) for r in direct} == (set(conda_pins) | set(by_hand)) - (
        overridden - {name_of(r) for r in direct}
    )
    conda_pins.update(by_hand)
    for name, version in conda_pins.items():
        assert locked[name] == version, (
            f"environment.yml pins {name}=={version}, uv.lock has {locked[name]}"
        )
    assert "python=3.11" in env["dependencies"]
