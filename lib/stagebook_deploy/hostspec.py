"""The hosts of a multi-host cluster on one machine: names, addresses, Ansible groups.

Every host is a network namespace on one bridge (:mod:`.nshosts`), addressed in
the RFC 2544 test range ``198.18.0.0/24`` so that nothing real is ever reached:
the bridge is ``198.18.0.1`` in the root namespace, the hosts ``198.18.0.11``
and up. :func:`prod_layout` is production's shape (``ansible/inventories/prod``)
in eight hosts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NETWORK = ipaddress.IPv4Network("198.18.0.0/24")
GATEWAY = "198.18.0.1"  # the bridge's address in the root namespace: Ansible's side
FIRST_HOST = 11
PREFIX = "sbh-"  # every namespace, veth and per-host folder of ours starts with it
BRIDGE = "sbbr0"
ARCHIVE = "/srv/stagebook/home"  # stagebook_home, the shared archive (the converge checks it)

# Groups nested under another, as production nests its worker kinds under ``worker``.
GROUP_PARENTS: dict[str, str] = {"worker_default": "worker", "worker_train": "worker"}
# The train worker takes the train stage's queue (params ``pipeline.queues {train: train}``), and
# the default queue beside it: a stage of a default worker that is lost is retried there.
GROUP_VARS: dict[str, dict[str, Any]] = {
    "worker_train": {"airflow_worker_queues": ["train", "default"]}
}

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")  # a host name, and a valid namespace name


@dataclass(frozen=True)
class HostSpec:
    """One host: its name (also its hostname), address, Ansible groups and host variables."""

    name: str
    address: str
    groups: tuple[str, ...]
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def netns(self) -> str:
        """Return the host's network namespace: ``sbh-<name>``."""
        return f"{PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        """Return the root side of its veth pair: ``sbh-v<last octet>`` (15 characters at most)."""
        return f"{PREFIX}v{self.address.rsplit('.', 1)[1]}"


def address(number: int) -> str:
    """Return host ``number``'s address (from 1): ``198.18.0.<10 + number>``."""
    return str(NETWORK[FIRST_HOST - 1 + number])


def spec(name: str, number: int, *groups: str, **host_vars: Any) -> HostSpec:
    """Return host ``name`` at :func:`address` ``number``, in ``groups``, with ``host_vars``."""
    return HostSpec(name, address(number), tuple(groups), host_vars)


def prod_layout() -> list[HostSpec]:
    """Return production's shape in eight hosts, as the multi-host cluster converges it.

    ``meta1`` (.11) holds the metastore, the api-server, the DAG processor and
    the triggerer; ``mq1``-``mq3`` (.12-.14) are the three brokers (quorum
    queues); ``sched1``/``sched2`` (.15, .16) the two schedulers; ``work1``
    (.17) a default worker and ``work2`` (.18) the train worker (group
    ``worker_train``, whose group variable gives it the queue ``train`` besides
    ``default``: the default queue's stages fail over between the two).
    """
    airflow = ("metastore", "api_server", "dag_processor", "triggerer")
    layout = [
        spec(
            "meta1",
            1,
            *airflow,
            postgresql_listen=address(1),
            airflow_host_address=address(1),
        )
    ]
    layout += [
        spec(
            f"mq{n}",
            1 + n,
            "broker",
            rabbitmq_listen=address(1 + n),
            rabbitmq_nodename=f"stagebook@mq{n}",
        )
        for n in (1, 2, 3)
    ]
    layout += [
        spec(f"sched{n}", 4 + n, "scheduler", airflow_host_address=address(4 + n)) for n in (1, 2)
    ]
    workers = (("work1", 7, "worker_default"), ("work2", 8, "worker_train"))
    layout += [spec(name, n, group, airflow_host_address=address(n)) for name, n, group in workers]
    return layout


def check(hosts: Sequence[HostSpec]) -> None:
    """Raise ``ValueError`` (one line naming the host) unless ``hosts`` can share one bridge."""
    seen: dict[str, str] = {}
    for host in hosts:
        if not _NAME.match(host.name):
            raise ValueError(
                f"host {host.name!r}: a name is a lowercase letter, then up to 19 "
                "lowercase letters, digits or '-': rename it"
            )
        address = ipaddress.IPv4Address(host.address)
        if address not in NETWORK or int(address) - int(NETWORK[0]) < FIRST_HOST:
            raise ValueError(
                f"host {host.name}: address {host.address} is outside {NETWORK[FIRST_HOST]}-"
                f"{NETWORK[-2]} (the RFC 2544 test range): give it one there"
            )
        for key in (host.name, host.address):
            if key in seen:
                raise ValueError(
                    f"host {host.name}: {key} is also {seen[key]}'s: give each its own"
                )
            seen[key] = host.name


def hosts_file(hosts: Sequence[HostSpec]) -> str:
    """Return the ``/etc/hosts`` every host sees: localhost and every host's name.

    RabbitMQ's Erlang distribution names its nodes ``stagebook@mq1``: every host
    must resolve every other's short name.
    """
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{host.address}\t{host.name}" for host in hosts]
    return "\n".join(lines) + "\n"
