"""The cluster tests' machine: root, its uv, and its one set of namespace hosts."""

import os
import shutil

import pytest

from stagebook import settings
from stagebook_deploy import nshosts


@pytest.fixture(scope="session", autouse=True)
def this_machines_uv():
    """Converge with this machine's uv (``make test`` exports it; a bare pytest finds it here).

    The converged hosts, local or namespaces, see this machine's files.
    """
    os.environ.setdefault(
        "STAGEBOOK_UV", shutil.which("uv") or str(settings.root() / ".tools/bin/uv")
    )


@pytest.fixture(scope="module")
def machine():
    """Hold the machine's namespace hosts for a module (one bridge, one address range)."""
    if os.geteuid() != 0:
        pytest.fail("namespace hosts need root (ip netns, mount, sshd): run the tests as root")
    with nshosts.exclusive():
        yield
