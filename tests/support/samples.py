"""Sample values the unit tests share."""

import pandas as pd

from stagebook.orchestration.notifying.messages import Message

SIGNATURE = "ffm.TH.201910241414_20191023"
RECS = pd.DataFrame(  # one date's recommendations: two users, two items each
    {
        "user_id": ["u2", "u1", "u1", "u2"],
        "rank": [1, 2, 1, 2],
        "item_id": ["a", "c", "b", "d"],
        "score": [0.9, 0.4, 0.8, 0.3],
        "model_signature": SIGNATURE,
    }
)

MESSAGE = Message(
    event="retry",
    state="up_for_retry",
    dag_id="recommendation_pipeline",
    ds="2019-11-16",
    phase="prod",
    task_id="prod.train",
    try_number=1,
    retries_left=1,
    error="StageFailed: stage 20-train raised InvalidLossError: training loss became nan",
    log_url="http://localhost:8080/dags/recommendation_pipeline/runs/r/tasks/prod.train?try_number=1",
    report_url="file:///archive/reports/recommendation_pipeline/2019-11-16/prod/20-train.try1.html",
)
