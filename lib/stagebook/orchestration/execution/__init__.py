"""Running a try: the operators, the Airflow-free runner, kernels, progress, secrets and stops.

:mod:`.runner` does one try's work; :mod:`.operators` is the thin Airflow adapter
around it; :mod:`.kernels`, :mod:`.progress`, :mod:`.secrets` and :mod:`.stopping`
are what a try needs on the way; :mod:`.tasklogs`, :mod:`.runlock` and
:mod:`.metastore` keep a run's logs, its lock and its state.
"""
