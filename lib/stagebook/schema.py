"""The base schema of params: the sections every pipeline has, and the hooks it may override.

An application's schema subclasses :class:`Params` (as ``stagebook.params.Params``,
the public name) and adds its own sections, each a :class:`Section`.
:mod:`stagebook.params` loads the files and validates them with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from stagebook import storage


class Section(BaseModel):
    """A section of params: unknown keys are errors, values are read-only, no bool is a number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError("a number is expected, not true or false")
        return value


class NotificationParams(Section):
    """Who hears about task events and runs; credentials live in Airflow connections."""

    channels: list[Literal["log", "slack", "email", "webhook"]]
    events: list[Literal["success", "failure", "retry"]]
    slack_conn_id: str
    email_conn_id: str
    email_to: list[str]
    email_from: str
    webhook_conn_id: str
    timeout_s: float = Field(gt=0, le=10)


class PipelineParams(Section):
    """How Airflow runs the DAG; read when the DAG file is parsed."""

    phases: list[str]
    retries: int = Field(ge=0, le=20)
    retry_delay_s: int = Field(ge=0, le=86_400)
    cell_timeout_s: int = Field(ge=1, le=86_400)
    start_timeout_s: int = Field(ge=1, le=600)
    overridable: list[str]  # the sections or section.keys a run's conf may override
    queues: dict[str, str]  # stage task -> Celery queue (default: Airflow's default queue)


class Params(Section):
    """The params every pipeline has; an application's schema adds its own sections.

    The defaults are stated once, in ``common.yaml``: a model only validates.
    A run's conf may override only what ``pipeline.overridable`` lists.
    ``protected`` names the sections (or keys) that come only from the params
    files, with the reason: the allowlist can never open them.
    """

    protected: ClassVar[Mapping[str, str]] = {
        "pipeline": "the DAG reads it when its file is parsed",
        "notifications": "who hears about a run is not the run's to choose",
    }

    notifications: NotificationParams
    pipeline: PipelineParams

    def seed(self, ds: dt.date) -> int:
        """Return the seed of a stage's random generators for ``ds``."""
        return ds.toordinal()

    def latest_complete_date(self, today: dt.date) -> dt.date:
        """Return the newest date a run can process on ``today``: yesterday by default."""
        return today - dt.timedelta(days=1)

    def paths(self, ds: dt.date, phase: str, home: Path | None = None) -> storage.Paths:
        """Return a stage's paths for ``ds`` and ``phase``: a pipeline returns its own subclass."""
        return storage.paths(ds, phase, home)
