"""The Airflow side of Stagebook, one room per job.

- :mod:`.factory`: a pipeline's declaration in, its DAG out;
- :mod:`.execution`: running a try (operators, runner, kernels, progress, secrets);
- :mod:`.reviewing`: the reports app in the Airflow UI (index, trends, compare);
- :mod:`.notifying`: callbacks, messages, channels, the deadline alert;
- :mod:`.approving`: the approval gate, its answers and timeouts;
- :mod:`.commands`: the ``stagebook`` command.

Kept light: a DAG file imports :mod:`.factory`, which imports the operators and
the callbacks at parse time; papermill, nbconvert, pandas and the channels'
providers are imported only when a task runs.
"""
