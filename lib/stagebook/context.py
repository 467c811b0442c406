"""``stage()``: the one call a stage notebook makes, the same in Jupyter, papermill and Airflow."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagebook import dates, failures, params, settings, storage
from stagebook.params import Params

DAG_ID_VARIABLE = "STAGEBOOK_DAG_ID"  # set by the operator in the kernel's environment


@dataclass(frozen=True)
class StageContext:
    """What a stage needs: merged params for the phase, paths for ds, a seed and a logger."""

    name: str
    ds: dt.date
    phase: str
    try_number: int
    run_id: str
    params: Params
    paths: storage.Paths
    seed: int
    log: logging.Logger
    pulled: dict[str, Any] = field(default_factory=dict)
    dag_id: str | None = None  # the operator's DAG; None when run by hand

    @property
    def report(self) -> Path | None:
        """Return where this try's notebook is archived (None outside Airflow)."""
        if self.dag_id is None:
            return None
        return storage.report_path(
            self.dag_id, self.ds, self.phase, self.run_id, self.name, self.try_number
        )

    def header(self) -> str:
        """Return the Markdown header that opens the stage's report."""
        pulled = "".join(f" · {k} `{v}`" for k, v in self.pulled.items())
        return (
            f"### {self.name} · ds {self.ds.isoformat()} · phase {self.phase} · try {self.try_number}\n"
            f"run `{self.run_id}` · archive `{self.paths.home}`{pulled}"
        )


def stage(
    name: str,
    *,
    ds: str | dt.date,
    phase: str,
    try_number: int = 1,
    run_id: str = "manual",
    overrides: dict[str, Any] | None = None,
    **pulled: Any,
) -> StageContext:
    """Return the context of stage ``name`` for ``ds`` and ``phase``, and show its header.

    Args:
        name: the notebook's stage name, e.g. ``"30-score"``.
        ds: the business date, ``YYYY-MM-DD``.
        phase: ``prod``, ``beta``, or ``common`` for stages that run before the phase split.
        try_number: the Airflow try (1 outside Airflow); seeds and learning rates use it.
        run_id: the Airflow run id (``manual`` outside Airflow).
        overrides: dotted params overrides from the run's conf, e.g. ``{"train.epochs": 2}``.
        **pulled: values pulled from earlier tasks, e.g. ``model_id``.
    """
    failures.install()  # first: an error raised here too tells the operator whether to retry
    day = dates.parse_ds(ds, where=f"{name}: parameter 'ds'")
    merged = params.load(None if phase == "common" else phase, overrides)
    seed = merged.seed(day)
    random.seed(seed)
    import numpy as np  # here, not at module level: DAG files import this package

    np.random.seed(seed % 2**32)
    log = logging.getLogger(f"stagebook.{name}")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    ctx = StageContext(
        name=name,
        ds=day,
        phase=phase,
        try_number=int(try_number),
        run_id=run_id,
        params=merged,
        paths=merged.paths(day, phase, settings.home()),
        seed=seed,
        log=log,
        pulled=pulled,
        dag_id=os.environ.get(DAG_ID_VARIABLE) or None,
    )
    _show(ctx)
    return ctx


def _show(ctx: StageContext) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # plain Python without IPython: the log line is the header
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(ctx.header()))
    else:
        ctx.log.info(ctx.header().replace("\n", " "))
