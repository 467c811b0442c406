"""Deploying Stagebook on several machines: converging the Ansible inventories, and host names.

Not part of the runtime package (:mod:`stagebook`): :mod:`.cluster` drives Ansible
for ``make cluster`` (:mod:`.apiclient` talks to the api-server it started);
:mod:`.hostnames` is the ``hostname_callable`` that Airflow's configuration names
on each host of a cluster. The rehearsal on several hosts (``make
cluster-multihost``): :mod:`.hostspec` (the hosts and prod's layout),
:mod:`.nshosts` (network-namespace hosts with their own sshd), :mod:`.nsteardown`
(removing them, and what is left), :mod:`.certificate` (the self-signed TLS
certificate) and :mod:`.multihost` (the inventory, the SSH check, the command).
"""
