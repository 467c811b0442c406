"""Production's eight namespace hosts, ``work2``'s archive its own folder instead of the shared one.

A converge of ``ansible/site.yml`` onto them stops before anything starts, and
says which host does not share the archive; the hosts that do pass.
"""

import shutil

import pytest

from stagebook_deploy import cluster, multihost, nshosts, nsteardown
from tests.cluster import multihostops

# The machine has one set of namespace hosts, which test_multihost (a longest module) holds.
pytestmark = pytest.mark.last


def test_a_host_without_the_shared_archive_stops_a_converge_of_production_naming_it(machine):
    workdir = multihostops.new_workdir()
    try:
        nshosts.up(multihostops.HOSTS, workdir, private_archive="work2")
        inventory = multihost.inventory(
            multihostops.HOSTS, workdir, shared_vars=multihostops.SHARED_VARS
        )
        multihost.check_reachable(inventory)
        result = cluster.converge(str(inventory), {}, multihostops.EXAMPLE_PASSWORD)
    finally:
        nsteardown.down(workdir)
        left = nsteardown.leftovers(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    assert left == []
    assert result.returncode != 0
    said = " ".join(result.stdout.split())
    assert "work2: /srv/stagebook/home (stagebook_home) is not the folder that" in said, said[
        -3000:
    ]
    assert "TASK [postgresql" not in result.stdout  # nothing started
    assert "work1: /srv/stagebook/home" not in said  # the hosts that share it pass
