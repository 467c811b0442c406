"""The operator extra link "Report": the HTML rendering of a try's archived notebook."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from stagebook import reports


class ReportLink(BaseOperatorLink):
    """The operator extra link "Report": the HTML rendering of the try's archived notebook."""

    name = "Report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        """Return the report of the try that just ran (Airflow stores it as an XCom)."""
        report = getattr(operator, "report_html", None)
        return reports.url(report) if report else ""
