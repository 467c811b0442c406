"""The embedded Airflow's home on this machine: its metastore, created or upgraded when needed.

A new home's SQLite metastore is a copy of a template: the empty metastore
``airflow db migrate`` made in an earlier new home, kept per Airflow version,
set of migrations and the settings migrate writes into it (the default pool's
slots, the log templates, the external DB managers). Copying it takes
milliseconds where migrating takes seconds. ``stagebook setup`` always migrates.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from stagebook import atomic
from stagebook.orchestration.commands import environment
from stagebook.orchestration.execution import runlock

log = logging.getLogger(__name__)

TEMPLATES_VARIABLE = "STAGEBOOK_METASTORE_TEMPLATES"
# What `airflow db migrate` writes into a new metastore from the configuration.
MIGRATE_READS = (
    ("core", "default_pool_task_slot_count"),
    ("logging", "log_filename_template"),
    ("elasticsearch", "log_id_template"),
    ("database", "external_db_managers"),
    ("database", "load_default_connections"),
)


def migrate() -> None:
    """Create or upgrade the embedded Airflow's metadata database (idempotent)."""
    environment.apply_airflow_environ()
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def setup_airflow() -> None:
    """``stagebook setup``: migrate the metadata database and say where it is."""
    migrate()
    print(f"stagebook: Airflow metadata database ready in {os.environ['AIRFLOW_HOME']}")


def ensure_metastore() -> None:
    """Create the metastore when it does not exist yet, then settle runs whose process is gone.

    Each says so in one line. Two first commands on a new home migrate it once.
    """
    environment.apply_airflow_environ()
    from airflow.sdk import conf
    from sqlalchemy import create_engine, inspect

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # the documented [database] sql_alchemy_conn, read on an engine of its own
    engine = create_engine(conf.get("database", "sql_alchemy_conn"))
    try:
        with atomic.locked(home / ".stagebook-migrate.lock"):
            if not inspect(engine).has_table("dag"):
                if not from_template(engine):
                    migrate()
                    keep_template(engine)
                print(f"stagebook: created the Airflow metastore in {home}")
    finally:
        engine.dispose()
    for line in runlock.sweep():
        print(f"stagebook: {line}", flush=True)


def template_path() -> Path:
    """Return the template metastore of this Airflow, its migrations and the settings migrate reads.

    Under ``$STAGEBOOK_METASTORE_TEMPLATES``, else ``$XDG_CACHE_HOME/stagebook/metastores``.
    """
    from importlib.metadata import version
    from importlib.util import find_spec

    from airflow.sdk import conf

    found = find_spec("airflow").submodule_search_locations or []  # type: ignore[union-attr]
    migrations = [p.name for f in found for p in Path(f).glob("migrations/versions/*.py")]
    parts = [version("apache-airflow-core"), *sorted(migrations)]
    parts += [conf.get(section, key, fallback="") for section, key in MIGRATE_READS]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    folder = os.environ.get(TEMPLATES_VARIABLE)
    if not folder:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = str(Path(cache) / "stagebook" / "metastores")
    return Path(folder) / f"airflow-{parts[0]}-{digest}.db"


def _sqlite_file(engine: Any) -> Path | None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def from_template(engine: Any) -> bool:
    """Make the new SQLite metastore of ``engine`` a copy of the template; return whether it is.

    False (and the metastore as it was) when the metastore is not SQLite, there is
    no template yet, or the copy is not a metastore.
    """
    from sqlalchemy import inspect

    database = _sqlite_file(engine)
    template = template_path()
    if database is None or not template.is_file():
        return False
    engine.dispose()  # its connections hold the empty file the copy replaces
    copy = database.with_name(f"{database.name}.{os.getpid()}.template")
    shutil.copyfile(template, copy)
    os.replace(copy, database)
    try:
        if inspect(engine).has_table("dag"):
            return True
    except Exception:  # not a database: migrated for real below
        pass
    log.warning("The metastore template %s is not a metastore: migrating", template)
    engine.dispose()
    database.unlink()
    return False


def keep_template(engine: Any) -> None:
    """Keep a copy of ``engine``'s just-migrated, empty SQLite metastore as the template."""
    database = _sqlite_file(engine)
    if database is None:
        return
    template = template_path()
    copy = template.with_name(f"{template.name}.{os.getpid()}.tmp")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        # SQLite's backup, not a file copy: the metastore is in WAL mode, and while this
        # process holds a connection, migrate's last writes may be in its -wal file still.
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        os.replace(copy, template)  # two new homes at once: each replaces it whole
    except OSError:  # a template is only a head start for the next new home
        log.warning("Could not keep the metastore template %s", template, exc_info=True)
