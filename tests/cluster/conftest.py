"""The cluster tests' machine: root, and its one set of namespace hosts."""

import os
import shutil

import pytest

from stagebook import settings
from stagebook_deploy import nshosts


@pytest.fixture(scope="module")
def machine():
    """Hold the machine's namespace hosts for a module (one bridge, one address range)."""
    if os.geteuid() != 0:
        pytest.fail("namespace hosts need root (ip netns, mount, sshd): run the tests as root")
    os.environ.setdefault(
        "STAGEBOOK_UV", shutil.which("uv") or str(settings.root() / ".tools/bin/uv")
    )
    with nshosts.exclusive():
        yield
