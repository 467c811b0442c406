"""Stage sources read as code in a pull request: a one-line change is a one-line diff.

The change is made as JupyterLab makes it: the source opened as a notebook through
jupytext's contents manager, one line of a cell edited, the notebook saved back.
"""

from __future__ import annotations

import shutil
import subprocess

from stagebook import notebook, settings


def _git(repo, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_one_line_change_saved_from_jupyterlab_is_a_one_line_diff(tmp_path, monkeypatch):
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from jupytext.sync_contentsmanager import build_sync_jupytext_contents_manager_class

    monkeypatch.setenv("STAGEBOOK_PIPELINE", "recommendations")
    source = notebook.path("30-inference")
    shutil.copy(settings.root() / "jupytext.toml", tmp_path)
    shutil.copy(source, tmp_path / source.name)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "stage")

    manager = build_sync_jupytext_contents_manager_class(LargeFileManager)(root_dir=str(tmp_path))
    model = manager.get(source.name, type="notebook")
    assert model["content"]["metadata"]["kernelspec"]["name"] == "stagebook"
    cell = next(c for c in model["content"]["cells"] if "inference.write(recs" in c["source"])
    old = next(line for line in cell["source"].splitlines() if "inference.write(recs" in line)
    cell["source"] = cell["source"].replace(old, old + "  # the day's recommendations")
    manager.save(model, source.name)

    diff = _git(tmp_path, "diff", "-U0", "--", source.name)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == [f"-{old}", f"+{old}  # the day's recommendations"], diff
