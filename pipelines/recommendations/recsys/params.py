"""The params schema of the recommendation pipeline: ``schema:`` in ``params/common.yaml``.

Every default is in ``params/common.yaml``, with its comment; this model only
validates (types, bounds, choices).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from recsys import paths as datasets
from stagebook import limits
from stagebook.params import Params, Section

Share = Annotated[float, Field(ge=0, le=1)]  # a share of users, items or slots, 0 to 1


class DataParams(Section):
    """Where the raw events come from."""

    source: Literal["movielens100k", "synthetic"]
    anchor_date: dt.date
    events_per_day: int = Field(gt=0, le=50_000_000)
    seed: int
    n_users: int = Field(gt=1, le=100_000_000)
    n_items: int = Field(gt=1, le=100_000_000)


# A DuckDB size: a number and a unit, e.g. 1.5GiB or 512MB (1000- or 1024-based).
SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class TablesParams(Section):
    """The input tables built for one date, and the engine that builds them."""

    train_days: int = Field(gt=1, le=3650)
    min_events: int = Field(ge=1, le=1_000_000_000)
    engine: Literal["duckdb", "spark"]
    spark_conn_id: str = Field(min_length=1)  # an Airflow connection: sc://host:port or local[N]
    duckdb_memory_limit: str
    duckdb_temp_dir: str = Field(min_length=1)  # relative: under the archive's tmp folder
    seen_pass_events: int = Field(ge=1, le=1 << 40)  # events one pass of ``seen`` aggregates

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        if not SIZE.fullmatch(value.strip()):
            raise ValueError(
                f"{value!r} is not a size: give a number and a unit, e.g. 1.5GiB or 512MB"
            )
        return value.strip()


class FeaturesParams(Section):
    """The field vocabularies of a phase."""

    min_count: int = Field(ge=1, le=1_000_000)
    batch_rows: int = Field(ge=1024, le=1 << 26)


class TrainParams(Section):
    """The field-aware factorization machine and its optimiser."""

    k: int = Field(gt=0, le=256)
    epochs: int = Field(gt=0, le=1000)
    batch_size: int = Field(gt=0, le=1_048_576)
    base_lr: float = Field(gt=0)
    lr_decay: float = Field(gt=0, le=1)
    l2: float = Field(ge=0)
    patience: int = Field(ge=1, le=1000)
    linear_terms: bool
    init_scale: float = Field(gt=0, le=10)
    chunk_rows: int = Field(ge=1 << 16, le=1 << 30)


class InferenceParams(Section):
    """Scoring of target users against candidate items."""

    top_k: int = Field(gt=0, le=1000)
    block_users: int = Field(gt=0, le=1_000_000)
    mode: Literal["model", "popular"]


class SoftLimits(limits.SoftLimits):
    """``validation.soft``: the gate's optional soft limits, each stricter than its hard one."""

    max_duplicates: int | None = Field(default=None, ge=0, le=1_000_000)
    min_user_coverage: Share | None = None
    min_catalogue_coverage: Share | None = None
    max_kl: float | None = Field(default=None, gt=0)
    max_js: float | None = Field(default=None, gt=0, le=1)


class ValidationParams(limits.Limits):
    """Thresholds of the validation gate: hard limits fail the phase, soft ones wait for approval."""

    max_duplicates: int = Field(ge=0, le=1_000_000)
    min_user_coverage: Share
    min_catalogue_coverage: Share
    max_kl: float = Field(gt=0)
    max_js: float = Field(gt=0, le=1)
    smoothing: float = Field(gt=0)
    history_days: int = Field(ge=1, le=365)
    soft: SoftLimits = SoftLimits()


class PublishParams(Section):
    """Where recommendations go."""

    sinks: list[Literal["outbox", "redis"]] = Field(min_length=1)
    redis_conn_id: str  # an Airflow connection: host, port, password, extra
    # Bounds each call to a sink (a Redis chunk of entries, the commit), never retried in-try;
    # not a whole publication, which lasts as long as its chunks: a sink that stops
    # answering fails publish within timeout_s of its last answer (2x during the commit).
    timeout_s: float = Field(gt=0, le=30)
    retention_days: int = Field(ge=1, le=3650)  # Redis stream entries older than this are trimmed


class RecsysParams(Params):
    """All parameters of one phase of the recommendation pipeline, after merging."""

    protected: ClassVar[Mapping[str, str]] = {
        **Params.protected,
        "publish": "where recommendations go, and the connection the publish task gets, "
        "come only from the params files",
    }

    market: str
    data: DataParams
    tables: TablesParams
    features: FeaturesParams
    train: TrainParams
    inference: InferenceParams
    validation: ValidationParams
    publish: PublishParams

    def seed(self, ds: dt.date) -> int:
        """Return the seed of a stage for ``ds``: ``data.seed`` plus the date's ordinal."""
        return self.data.seed + ds.toordinal()

    def latest_complete_date(self, today: dt.date) -> dt.date:
        """Return yesterday, or the source's last date with events if that is earlier."""
        return min(super().latest_complete_date(today), self.data.anchor_date)

    def paths(self, ds: dt.date, phase: str, home: Path | None = None) -> datasets.RecsysPaths:
        """Return the pipeline's paths for ``ds`` and ``phase``: its datasets, by name."""
        return datasets.paths(ds, phase, home)
