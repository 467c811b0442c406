# Stagebook: two commands do all the set-up on a fresh machine.
#   make demo   set up, then run every pipeline for its latest complete date
#   make test   set up, then run the tests
# Both are idempotent.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON  ?= python3
UV_PIN  := uv==0.13.8
# MovieLens-100k ships inside this wheel; its dependencies (torch, ...) are not wanted.
RECBOLE := recbole==1.2.1
UV      := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV    := .venv
PY      := $(VENV)/bin/python

export STAGEBOOK_HOME ?= $(CURDIR)/var
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export STAGEBOOK_UV := $(UV)

.PHONY: help setup services demo serve lab cluster cluster-down cluster-multihost cluster-multihost-down cluster-restore test lint format clean bench-ffm bench-pipeline

help:
	@echo "make demo   set up and run every pipeline for its latest complete date (reports in var/reports)"
	@echo "make serve  serve Airflow (scheduler included) and the reports UI on http://127.0.0.1:8080"
	@echo "make lab    JupyterLab on the project, stage sources open as notebooks, kernel stagebook"
	@echo "make cluster       converge ansible/inventories/local: PostgreSQL, RabbitMQ, Celery, 2 schedulers"
	@echo "make cluster-down  stop every process that make cluster started"
	@echo "make cluster-multihost       the same on 8 namespace hosts of prod's shape, over SSH"
	@echo "make cluster-multihost-down  remove every namespace, bridge, mount and process of it"
	@echo "make test   set up and run the tests"
	@echo "make bench-pipeline  a stage's fixed cost, overhead against plain Python, scaling (benchmarks/results/pipeline.json)"
	@echo "make lint   ruff check and format check"
	@echo "make clean  remove .venv, .tools and var/"

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet $(UV_PIN)

# Bytecode is compiled at install: where Python may not write it (PYTHONDONTWRITEBYTECODE),
# every kernel and task would compile its imports again (Keras and JAX: 5.7 s, not 2.0 s).
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode  # exact: what the lock no longer names goes (recbole comes back below)
	$(UV) pip install --python $(PY) --no-deps --quiet --compile-bytecode $(RECBOLE)
	$(PY) -m ipykernel install --sys-prefix --name stagebook --display-name "Python (stagebook)" >/dev/null
	touch $@

# The spark dependency group (pyspark and its Spark, ~450 MB): the tests' Spark Connect server and
# tables.engine: spark; `make demo` does without. Kept beside the exact sync above (--inexact).
$(VENV)/.spark: $(VENV)/.synced
	$(UV) sync --frozen --inexact --compile-bytecode --group spark
	touch $@

setup: $(VENV)/.synced
	$(PY) -m stagebook.orchestration.commands.cli setup

PIPELINES := $(notdir $(patsubst %/pipeline.py,%,$(wildcard pipelines/*/pipeline.py)))

demo: setup
	@set -e; for pipeline in $(PIPELINES); do \
	  $(PY) -m stagebook.orchestration.commands.cli run --latest --pipeline $$pipeline; done

serve: setup
	$(PY) -m stagebook.orchestration.commands.cli serve

lab: setup  ## JupyterLab on the project: a stage source (notebooks/NN-stage.py) opens as a notebook
	$(PY) -m stagebook.orchestration.commands.cli lab

cluster: setup services
	$(PY) -m stagebook_deploy.cluster up

cluster-down: $(VENV)/.synced
	$(PY) -m stagebook_deploy.cluster down

cluster-multihost: setup services  ## the rehearsal: 8 namespace hosts of prod's shape, converged over SSH
	$(PY) -m stagebook_deploy.multihost up --converge

cluster-multihost-down: $(VENV)/.synced
	$(PY) -m stagebook_deploy.multihost down

cluster-restore: $(VENV)/.synced  ## make cluster-restore BACKUP=var/cluster/postgresql/backups/airflow-YYYYMMDD.dump
	$(PY) -m stagebook_deploy.cluster restore $(BACKUP)

# Servers the tests start themselves on loopback (and stop by PID): Debian's redis-server,
# and Debian's chromium for the browser tests (Playwright drives it; `playwright install`
# cannot reach its CDN here).
# Installing the package does not start a system service here (policy-rc.d); the tests
# never use one.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
services:
	@command -v redis-server >/dev/null || { \
	  $(SUDO) apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends redis-server; }; }
	@redis-server --version
	@command -v chromium >/dev/null || { \
	  $(SUDO) apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium; }; }
	@chromium --version
	@command -v java >/dev/null || { \
	  $(SUDO) apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends openjdk-17-jre-headless; }; }
	@java -version 2>&1 | head -1
	@dpkg -s postgresql-15 rabbitmq-server supervisor >/dev/null 2>&1 || { \
	  $(SUDO) apt-get install -y -q --no-install-recommends postgresql-15 rabbitmq-server supervisor >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends postgresql-15 rabbitmq-server supervisor; }; }

test: setup services $(VENV)/.spark
	$(PY) -m stagebook.orchestration.commands.cli check
	$(PY) -m pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .tools var


bench-ffm: $(VENV)/.synced  ## FFM training and scoring against xLearn and libffm (benchmarks/results/ffm.json)
	bash benchmarks/setup_references.sh
	$(PY) benchmarks/ffm.py

bench-pipeline: $(VENV)/.synced  ## make bench-pipeline [BENCH_ARGS="--scales 2000,32000 --skip scaling"]
	$(PY) benchmarks/pipeline.py $(BENCH_ARGS)
