"""Deploying Stagebook on several machines: converging the Ansible inventories, and host names.

Not part of the runtime package (:mod:`stagebook`): :mod:`.cluster` drives Ansible
for ``make cluster``; :mod:`.hostnames` is the ``hostname_callable`` that
Airflow's configuration names on each host of a cluster.
"""
