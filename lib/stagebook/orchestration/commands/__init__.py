"""The ``stagebook`` command: set up, check, run, serve, approve, trace and replay a pipeline.

:mod:`.cli` parses and dispatches; each command has its module (:mod:`.localrun`,
:mod:`.check`, :mod:`.replay`, :mod:`.lineage`, :mod:`.serve`); :mod:`.environment`
is the embedded Airflow's configuration, applied before Airflow is imported.
"""
