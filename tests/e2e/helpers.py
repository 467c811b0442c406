"""What the end-to-end tests read back from a run: states, XComs, archived reports."""

import json

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

from stagebook import settings

DAG_ID = settings.DAG_ID


def states(run):
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run, task_id, key):
    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        ).one()
        return XComModel.deserialize_value(row)


def reports(home, ds, phase):
    return home / "reports" / DAG_ID / ds.isoformat() / phase


def injected(path):
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    return "".join(cell["source"])


def outputs_text(path):
    nb = json.loads(path.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)


def what(message):
    return message["event"], message["task"], message["try"]


def xcom_or_none(run, task_id, key):
    try:
        return xcom(run, task_id, key)
    except Exception:
        return None
