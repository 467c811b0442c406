"""The code a try ran, as its sidecar keeps it: source, lock, Stagebook, commit, DAG version."""

import hashlib
import importlib.metadata
import subprocess

import pytest

from stagebook import provenance

SOURCE = "pipelines/p/notebooks/30-inference.py"


def git(root, *args):
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path):
    """A project folder with one stage source and a lock, not (yet) a git checkout."""
    root = tmp_path / "project"
    source = root / SOURCE
    source.parent.mkdir(parents=True)
    source.write_text("# %%\nprint('scores')\n")
    (root / "uv.lock").write_text("version = 1\n")
    return root


@pytest.fixture
def checkout(project):
    """The project as a git checkout of one commit."""
    git(project, "init", "-q")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return project


def test_a_try_in_a_clean_checkout_keeps_its_source_lock_version_commit_and_dag_version(checkout):
    found = provenance.code(checkout / SOURCE, "0197-dag-version", checkout)
    assert found == {
        "source": SOURCE,
        "source_sha256": hashlib.sha256(b"# %%\nprint('scores')\n").hexdigest(),
        "stagebook": importlib.metadata.version("stagebook"),
        "lock_sha256": hashlib.sha256(b"version = 1\n").hexdigest(),
        "git_commit": git(checkout, "rev-parse", "HEAD"),
        "git_dirty": False,
        "dag_version": "0197-dag-version",
    }


def test_an_edited_tracked_file_makes_the_checkout_dirty_an_untracked_one_does_not(checkout):
    (checkout / "notes.txt").write_text("a run's own output\n")
    assert provenance.code(checkout / SOURCE, None, checkout)["git_dirty"] is False
    (checkout / SOURCE).write_text("# %%\nprint('scores, again')\n")
    found = provenance.code(checkout / SOURCE, None, checkout)
    assert found["git_dirty"] is True
    assert found["source_sha256"] == hashlib.sha256(b"# %%\nprint('scores, again')\n").hexdigest()


def test_a_folder_that_is_no_checkout_and_has_no_lock_keeps_nulls(project):
    (project / "uv.lock").unlink()
    found = provenance.code(project / SOURCE, None, project)
    assert (found["git_commit"], found["git_dirty"], found["lock_sha256"]) == (None, None, None)
    assert found["dag_version"] is None and found["source"] == SOURCE


def test_no_git_on_the_path_gives_nulls_never_an_error(checkout, monkeypatch):
    monkeypatch.setenv("PATH", str(checkout))  # no git program there
    assert provenance.git_state(checkout) == (None, None)


def test_a_source_outside_the_project_is_kept_whole(project, tmp_path):
    elsewhere = tmp_path / "more" / "10-features.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text("x = 1\n")
    assert provenance.code(elsewhere, None, project)["source"] == str(elsewhere.resolve())


def test_the_source_sha_of_a_sidecar_from_before_code_was_kept_is_none():
    assert provenance.source_sha256({"state": "success"}) is None
    assert provenance.source_sha256({"code": {"source_sha256": "ab12"}}) == "ab12"
