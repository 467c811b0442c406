"""The recommendation application: one Stagebook pipeline, built on the framework.

Data sources and input tables, field features, the FFM model and its training
(:mod:`recsys.ffm`), exact scoring, inference, the validation gate,
sinks, model signatures, and where its datasets lie
(:mod:`recsys.paths`). Its params schema is
:class:`recsys.params.RecsysParams`; its stage table is
``pipelines/recommendations/pipeline.py``, built into a DAG by ``dags/pipelines.py``.
"""
