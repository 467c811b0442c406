"""Warm kernels for ``stagebook run``: the next two stages' kernels start while a stage runs.

A stage's kernel costs about half a second to start, and its first cell's
imports (seaborn, pandas, Keras and JAX for training) up to several seconds more.
Where one process runs the stages one after the other, as ``dag.test()`` does
for ``stagebook run``, each stage starts the kernels of the stages that follow
it and of the stages after those (:func:`ahead`: its downstream stage tasks, and
the stage after an approval gate; the phase branch starts the first stage of
each phase it chooses; the run starts its first stages). A spare kernel imports
what its notebook imports, each statement in a namespace of its own, so the
notebook's cells still bind every name themselves: the kernel's namespace is
empty, as a fresh kernel's is, and only ``sys.modules`` is already filled. Only
the imports that nothing before them could change are pre-imported
(:func:`preload.preloadable`): a notebook that sets ``os.environ`` or a library's
config before its imports gets them in that order, as a cold kernel would.

A spare is used once, by the task it was started for, and only if it was
started for the same kernel, environment and folder and is still alive;
otherwise that stage starts its own kernel, as it always did. Spares nobody
took are stopped when the run ends, and those of the phases a run does not
choose as soon as it chooses. While the first kernel works, a thread of
the run's own process warms its HTML rendering. A Celery worker runs each task
in a process of its own, so warming is on only inside :func:`warming` (and
:func:`ahead_of_run`); ``STAGEBOOK_WARM_KERNELS=0`` turns it off there too.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stagebook import notebook
from stagebook.orchestration.execution import preload, secrets

log = logging.getLogger(__name__)

OFF_VARIABLE = "STAGEBOOK_WARM_KERNELS"
# What nbclient adds to a kernel it starts: the spare starts the same way.
HISTORY_ARGUMENT = "--HistoryManager.hist_file=:memory:"


@dataclass
class Spare:
    """A kernel started ahead of its task."""

    manager: Any
    kernel_name: str
    environ: dict[str, str]
    seen: dict[str, Any] = field(default_factory=dict)
    answered: bool = False  # its imports done (:func:`settled`)
    cwd: str = field(default_factory=os.getcwd)  # where it started: the run's folder, or not


_spares: dict[tuple[str, str], Spare] = {}
_enabled = False
_rendering_warmed = False


@contextmanager
def warming(tasks: Iterable[Any], dag_id: str, *, enabled: bool = True) -> Iterator[None]:
    """Warm kernels for the tasks run in this block, starting with ``tasks``; stop the spares after.

    ``enabled``: False leaves warming off (as ``STAGEBOOK_WARM_KERNELS=0`` does).
    """
    global _enabled
    _enabled = enabled and os.environ.get(OFF_VARIABLE, "1") != "0"
    try:
        start(tasks, dag_id)
        yield
    finally:
        _enabled = False
        close()


def ahead_of_run(dag: Any) -> None:
    """Start the spares of a run of ``dag`` not yet begun (:func:`before_run`): its warming takes them."""
    global _enabled
    _enabled = os.environ.get(OFF_VARIABLE, "1") != "0"
    start(before_run(dag), dag.dag_id)


def before_run(dag: Any) -> list[Any]:
    """Return the first stages and the two after each, down every branch (no phase is chosen yet)."""
    first = _stages_among(dag.roots)
    return [*first, *_after(first), *_after(_after(first))]


def _after(stages: list[Any]) -> list[Any]:
    """Return the stages right after ``stages``, through gates and every branch."""
    following = [t for stage in stages for t in stage.downstream_list]
    opened = [t for f in following for t in (f.downstream_list if hasattr(f, "chosen") else [f])]
    return _stages_among(opened)


def settled(timeout_s: float) -> bool:
    """Tell whether every spare has answered (its imports done), waiting ``timeout_s`` in all."""
    from jupyter_core.utils import run_sync

    deadline = time.monotonic() + timeout_s
    for spare in [spare for spare in _spares.values() if not spare.answered]:
        client = spare.manager.client()
        client.start_channels()
        try:
            run_sync(client.wait_for_ready)(timeout=max(deadline - time.monotonic(), 0.01))
            spare.answered = True
        except RuntimeError:  # not yet; or dead, and its task starts its own
            return False
        finally:
            client.stop_channels()
    return True


def enabled() -> bool:
    """Return whether this process warms kernels now (inside :func:`warming`, not turned off)."""
    return _enabled


def start(tasks: Iterable[Any], dag_id: str) -> None:
    """Start a spare kernel for each stage task among ``tasks`` that has none (when warming is on)."""
    if not _enabled:
        return
    for task in _stages_among(tasks):
        key = (dag_id, task.task_id)
        if key in _spares:
            continue
        try:
            _spares[key] = _start(task, dag_id)
        except Exception:  # a spare is only a head start: the stage starts its own kernel
            log.warning("Could not start a spare kernel for %s", task.task_id, exc_info=True)


def ahead(task: Any, context: Mapping[str, Any]) -> list[Any]:
    """Return the tasks whose kernels ``task`` starts: those after it, and after their stages.

    Two stages ahead: one ahead, a stage after a short one found its kernel still
    importing (training waited 2.0-2.7 s for Keras and JAX, started as features began).
    """
    after = following(task, context)
    stages = [t for t in after if hasattr(t, "kernel_environ")]
    return after + [t for stage in stages for t in following(stage, context)]


def following(task: Any, context: Mapping[str, Any]) -> list[Any]:
    """Return the tasks that run after ``task``, through the phase branch's choice."""
    found: list[Any] = []
    for after in task.downstream_list:
        chosen = after.chosen(context) if hasattr(after, "chosen") else None
        found += [after] if chosen is None else [context["dag"].get_task(t) for t in chosen]
    return found


def _stages_among(tasks: Iterable[Any]) -> list[Any]:
    """Return the stage tasks among ``tasks``, and those right after a gate among them.

    An approval gate runs no kernel, and its stage (publish) would otherwise start
    cold. A phase branch is not looked through: it starts the phases it chooses.
    """
    found: list[Any] = []
    for task in tasks:
        if hasattr(task, "kernel_environ"):
            found.append(task)
        elif not hasattr(task, "chosen"):
            found += [t for t in task.downstream_list if hasattr(t, "kernel_environ")]
    return found


def _start(task: Any, dag_id: str) -> Spare:
    from jupyter_core.utils import run_sync

    path = notebook.path(task.stage)
    kernel_name = task.kernel_name or notebook.kernel_name(path) or "python3"
    environ = task.kernel_environ(dag_id)
    seen: dict[str, Any] = {}
    manager = secrets.kernel_manager(environ, seen)(kernel_name=kernel_name)
    code = preload.preload_code(preload.preloadable(path))
    run_sync(manager.start_kernel)(
        extra_arguments=[HISTORY_ARGUMENT, f"--IPKernelApp.code_to_run={code}"],
        # Not the task's own output streams: its end would wait for this kernel to close them.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log.info("Started a spare kernel for %s (%s)", task.task_id, kernel_name)
    return Spare(manager, kernel_name, environ, seen)


def while_waiting() -> None:
    """Once per run, warm this process's HTML rendering in a thread while a kernel works.

    The process only waits on the kernel then, so the thread's imports and template
    compiling cost the stage nothing (the first stage's archive took 0.7 s more).
    """
    global _rendering_warmed
    if _enabled and not _rendering_warmed:
        _rendering_warmed = True
        threading.Thread(target=_warm_rendering, name="stagebook-warm-up", daemon=True).start()


def _warm_rendering() -> None:
    from stagebook import reports

    try:
        reports.warm_up()
    except Exception:  # the archive renders anyway, only without the head start
        log.warning("Could not warm up the HTML rendering", exc_info=True)


def take(task: Any, dag_id: str, kernel_name: str, environ: Mapping[str, str]) -> Spare | None:
    """Return the spare kernel started for ``task``, if it fits and lives; else None."""
    spare = _spares.pop((dag_id, task.task_id), None)
    if spare is None:
        return None
    fits = spare.kernel_name == kernel_name and spare.environ == dict(environ)
    if fits and spare.cwd == os.getcwd() and _alive(spare):
        return spare
    log.info("The spare kernel of %s does not fit any more: starting a fresh one", task.task_id)
    _stop(spare)
    return None


def dismiss(branch: Any, chosen: Iterable[str], dag_id: str) -> None:
    """Stop the spares of the stages that only the phases not ``chosen`` lead to.

    Started before the run's phases were known (:func:`ahead_of_run`), they would
    otherwise hold their memory, unused, to the run's end.
    """
    for task_id in unchosen(branch, chosen):
        spare = _spares.pop((dag_id, task_id), None)
        if spare is not None:
            _stop(spare)
            log.info("Stopped the spare kernel of %s: this run does not choose it", task_id)


def unchosen(branch: Any, chosen: Iterable[str]) -> set[str]:
    """Return the ids of the tasks below ``branch`` that only its branches not ``chosen`` lead to."""
    picked = set(chosen)
    below = {t.task_id: {t.task_id, *t.get_flat_relative_ids()} for t in branch.downstream_list}
    kept = set().union(*(ids for task, ids in below.items() if task in picked))
    return set().union(*(ids for task, ids in below.items() if task not in picked)) - kept


def close() -> None:
    """Stop every spare kernel nobody took."""
    while _spares:
        _stop(_spares.popitem()[1])


def _alive(spare: Spare) -> bool:
    from jupyter_core.utils import run_sync

    try:
        return bool(run_sync(spare.manager.is_alive)())
    except Exception:
        return False


def _stop(spare: Spare) -> None:
    from jupyter_core.utils import run_sync

    try:
        run_sync(spare.manager.shutdown_kernel)(now=True)
    except Exception:
        log.warning("Could not stop a spare kernel", exc_info=True)
