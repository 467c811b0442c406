"""How the lineage chain finds each earlier step: declared lineage records first, then run, then date."""

from stagebook.orchestration.commands import dags, lineage
from tests.support import DAG_ID


def test_a_record_both_stages_declare_joins_first_in_the_later_stages_order():
    assert lineage.joins(("sig", "digest", "data"), ("data", "sig", "window")) == (
        "sig",
        "data",
        "run_id",
        "ds",
    )
    assert lineage.joins(("sig",), ("rows",)) == ("run_id", "ds")


def test_the_pipelines_chain_joins_on_its_declared_lineage(airflow_db):
    dag = dags.load_dag(DAG_ID)
    found = lineage.outlets(dag, "prod")
    assert [task for task, _, _ in found] == ["prod.publish", "prod.train", "input_tables"]
    (_, _, publish), (_, _, train), (_, _, tables) = found
    assert lineage.joins(publish, train) == ("model_signature", "run_id", "ds")
    assert lineage.joins(train, tables) == ("run_id", "ds")
