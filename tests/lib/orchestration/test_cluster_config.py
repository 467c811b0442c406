"""The cluster's commands and templates, without converging: vault password, restore, brokers."""

from pathlib import Path

import jinja2
import pytest
import yaml

from stagebook import pipelines
from stagebook_deploy import cluster

PROD = cluster.ansible_dir() / "inventories" / "prod" / "hosts.yml"


def _brokers(inventory: Path) -> dict[str, dict]:
    return yaml.safe_load(inventory.read_text())["all"]["children"]["broker"]["hosts"]


def _render(template: str, brokers: dict[str, dict], **extra) -> str:
    source = (cluster.ansible_dir() / "roles" / template).read_text()
    hostvars = {host: dict(values or {}) for host, values in brokers.items()}
    return jinja2.Template(source).render(
        ansible_managed="managed",
        groups={"broker": list(brokers)},
        hostvars=hostvars,
        **extra,
    )


def test_a_non_local_inventory_without_a_vault_password_stops_naming_the_variable(
    monkeypatch, capsys
):
    monkeypatch.delenv("STAGEBOOK_VAULT_PASSWORD_FILE", raising=False)
    assert cluster.main(["up", "inventories/prod/hosts.yml"]) == 2
    err = capsys.readouterr().err
    assert "inventories/prod/hosts.yml" in err and "STAGEBOOK_VAULT_PASSWORD_FILE" in err


def test_a_vault_password_file_that_is_not_there_stops_naming_it(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "vault-pass"
    monkeypatch.setenv("STAGEBOOK_VAULT_PASSWORD_FILE", str(missing))
    assert cluster.main(["up"]) == 2
    assert f"the vault password file {missing}" in capsys.readouterr().err


def test_restore_needs_a_backup_that_exists(capsys, tmp_path):
    assert cluster.main(["restore"]) == 2
    assert "restore BACKUP" in capsys.readouterr().err
    assert cluster.main(["restore", str(tmp_path / "airflow-20261127.dump")]) == 1
    assert "airflow-20261127.dump: no such backup" in capsys.readouterr().err


def test_several_brokers_form_one_cluster_and_one_broker_stays_alone():
    brokers = _brokers(PROD)
    assert len(brokers) == 3
    three = _render(
        "rabbitmq/templates/rabbitmq.conf.j2",
        brokers,
        rabbitmq_listen="10.0.2.11",
        rabbitmq_port=5672,
    )
    nodes = [line.split(" = ")[1] for line in three.splitlines() if "classic_config.nodes" in line]
    assert nodes == ["stagebook@mq1", "stagebook@mq2", "stagebook@mq3"]
    one = _render(
        "rabbitmq/templates/rabbitmq.conf.j2",
        {"localhost": {}},
        rabbitmq_listen="127.0.0.1",
        rabbitmq_port=5672,
    )
    assert "cluster_formation" not in one


@pytest.mark.parametrize(("brokers", "expected"), [(3, "quorum"), (1, "classic")])
def test_the_celery_queues_are_quorum_queues_with_several_brokers(brokers, expected):
    defaults = yaml.safe_load(
        (cluster.ansible_dir() / "roles" / "airflow" / "defaults" / "main.yml").read_text()
    )
    groups = {"broker": [f"mq{n}" for n in range(brokers)]}
    queue_type = jinja2.Template(defaults["airflow_celery_queue_type"]).render(groups=groups)
    assert queue_type == expected


@pytest.mark.parametrize("inventory", ["local", "beta", "prod"])
def test_each_inventory_names_the_pipelines_it_unpauses_and_the_role_names_none(inventory):
    role = cluster.ansible_dir() / "roles" / "airflow" / "defaults" / "main.yml"
    assert yaml.safe_load(role.read_text())["airflow_unpause_dags"] == []
    group = cluster.ansible_dir() / "inventories" / inventory / "group_vars" / "all" / "main.yml"
    named = yaml.safe_load(group.read_text()).get("airflow_unpause_dags")
    dag_ids = {p.id for p in pipelines.every()}
    assert named and set(named) <= dag_ids, f"{group}: airflow_unpause_dags {named}"
