"""Reviewing: the reports app inside the Airflow UI (index, day, try, trends, compare).

:mod:`.web` builds the FastAPI app from :mod:`.web_page`, :mod:`.web_reports` and
:mod:`.web_trends`; :mod:`.review` reads the archive's sidecars, :mod:`.trends`,
:mod:`.charts` and :mod:`.comparison` what those pages draw, :mod:`.links` the
links between Airflow's pages and the reports.
"""
