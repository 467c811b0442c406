"""Stagebook: machine-learning pipeline stages as parameterized notebooks.

The public API that stage notebooks use.
"""

from stagebook.context import StageContext, stage
from stagebook.records import record

__all__ = ["StageContext", "record", "stage"]
