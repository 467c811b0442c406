"""An example consumer of the pipeline's published recommendations.

# recommendations_consumer

Scheduled on the Airflow asset `stagebook://recommendations/prod`: the
scheduler runs it after each successful `prod.publish` of
`recommendation_pipeline`. Its one task reads the newest asset event's `extra`
(ds, model signature, digest of the published records, report URL, sinks
written, approval) and checks that the outbox holds that very batch, as a
downstream loader would before taking it. A run triggered by hand reads the
newest event too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

DAG_ID = "recommendations_consumer"
PRODUCER = "recommendation_pipeline"
RECOMMENDATIONS = Asset("stagebook://recommendations/prod")
START = pendulum.datetime(2019, 11, 1, tz="Asia/Tokyo")

with DAG(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule=[RECOMMENDATIONS],
    start_date=START,
    catchup=False,
    tags=["stagebook", "example", "consumer"],
    default_args={"owner": "stagebook", "retries": 1, "retry_delay": timedelta(seconds=30)},
) as dag:

    @task(inlets=[RECOMMENDATIONS])
    def receive(**context: Any) -> dict[str, Any]:
        """Return the batch the newest event describes, ``verified`` against the outbox."""
        from recsys import lineage
        from stagebook import pipelines

        pipelines.enter(PRODUCER)  # the outbox is in the producing pipeline's data area

        found = list(context["triggering_asset_events"].get(RECOMMENDATIONS, []))
        found = found or list(context["inlet_events"][RECOMMENDATIONS])
        batch = lineage.received(found)
        print(
            f"received {batch['phase']} ds {batch['ds']}: model {batch['model_signature']}, "
            f"digest {batch['published_digest']}, sinks {batch['sinks']}, "
            f"outbox verified {batch['verified']}"
        )
        return batch

    receive()
