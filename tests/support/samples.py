"""Sample values the unit tests share."""

from stagebook.orchestration.messages import Message

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
