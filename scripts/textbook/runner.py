"""Run experiments one after the other, or as tasks on Dask distributed workers, with the same results.

A task is one experiment's ``task(ctx, key)`` (one seed, one trial), or its whole ``run(ctx)`` when it
defines no tasks. Each task seeds itself and runs with BLAS held to ``ctx.blas_threads`` threads, so a
worker computes exactly what the serial run computes. A worker writes into a temporary folder of its
own and sends the files back with its result; this process writes them into ``ctx.out``, then
summarises the experiment from its tasks' results in their serial order.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from scratchnet.util import blas_threads
from scratchnet_book.experiment import Check, Context, Report, finish, run_timed
from scratchnet_book.outputs import write_bytes

#: What ``--workers`` says when Dask distributed is not installed.
INSTALL_HINT = "--workers and --scheduler need Dask distributed: pip install -e '.[cluster]'"


class ClusterUnavailable(RuntimeError):
    """Dask distributed is not installed."""


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (``"ch04_train"`` -> ``scratchnet_book.ch04_train``)."""
    return importlib.import_module(f"scratchnet_book.{name}")


def crashed(name: str, error: str) -> Report:
    """The report of an experiment that raised ``error``: one failed check saying so."""
    return Report(name, checks=[Check(name, "runs to the end", "-", error, False)])


def run_serial(names: Sequence[str], ctx_for: Callable[[str], Context]) -> Iterator[Report]:
    """Run each experiment in this process, in turn; one that raises gets a failed check, the rest run."""
    for name in names:
        ctx = ctx_for(name)
        print(f"== {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            report = run_timed(experiment(name).run, ctx)
        except Exception as e:  # one broken experiment must not hide the others' results
            traceback.print_exc()
            report = crashed(name, f"{type(e).__name__}: {e}")
        report.wall_s = round(time.perf_counter() - start, 1)
        print(f"   {name}: {report.wall_s:.1f} s", file=sys.stderr, flush=True)
        yield report


# ------------------------------------------------------------------------------ on a cluster
@dataclass(frozen=True)
class Task:
    """One unit of work: ``experiment``'s ``task(ctx, key)``, or its whole ``run(ctx)`` when key is None."""

    experiment: str
    key: Any = None

    @property
    def label(self) -> str:
        """``ch05_train_relu/0``, ``ch06_hyperparameter_search/0_17``: the task's name in Dask's logs."""
        if self.key is None:
            return f"{self.experiment}/run"
        key = "_".join(map(str, self.key)) if isinstance(self.key, tuple) else str(self.key)
        return f"{self.experiment}/{key}"


def plan(names: Sequence[str], ctx_for: Callable[[str], Context]) -> list[Task]:
    """The tasks of ``names``, in the order the serial run computes them."""
    tasks = []
    for name in names:
        module = experiment(name)
        if hasattr(module, "task"):
            tasks += [Task(name, key) for key in module.tasks(ctx_for(name))]
        else:
            tasks.append(Task(name))
    return tasks


def execute(task: Task, ctx: Context) -> dict:
    """Run ``task`` (on a worker) in a temporary folder; return its result or error, files and time."""
    with tempfile.TemporaryDirectory(prefix="scratchnet-task-") as tmp:
        out = Path(tmp) / task.experiment  # named as the experiment: its logs name ctx.out
        out.mkdir()
        ctx = replace(ctx, out=out)
        module = experiment(task.experiment)
        start = time.perf_counter()
        try:
            with blas_threads(ctx.blas_threads):
                result = module.run(ctx) if task.key is None else module.task(ctx, task.key)
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        wall = time.perf_counter() - start
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                 if p.is_file() and not p.name.startswith(".")}
    return {"result": result, "files": files, "wall_s": wall}


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: of a new LocalCluster of ``workers`` processes on 127.0.0.1, or of ``scheduler``.

    Each worker has one thread (one task at a time); BLAS threads are set per task.
    Raises :class:`ClusterUnavailable` without Dask distributed.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable(INSTALL_HINT) from None
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which pins glibc's mmap
            # threshold: every array over 128 KiB is then mapped and unmapped, and training here ran
            # 1.5 to 4 times slower (docs/reproduction.md). Leave glibc's default.
            unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
            stack.enter_context(dask.config.set(unset))
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0"))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        yield client


def _seconds(task: Task) -> float:
    """About how long ``task`` takes: its experiment's ``TASK_SECONDS``, or 0 when it says nothing."""
    return float(getattr(experiment(task.experiment), "TASK_SECONDS", 0.0))


def _dispatch(client, tasks: Sequence[Task], contexts: dict[str, Context]) -> Iterator[tuple[Task, Any]]:
    """Run ``tasks`` on ``client``, the longest first; yield (task, future) as each one finishes.

    Only as many tasks are in Dask's hands as its workers have threads: a submitted task is assigned
    to a worker at once, and in the full run of 2026-12-02 thirteen of them waited behind a
    15-minute training on one worker while the other sat idle. Held back here, each task goes to
    the first thread that is free. A task of a worker that dies is still rerun by the scheduler.
    """
    from distributed import as_completed

    waiting = iter(sorted(tasks, key=_seconds, reverse=True))  # stable: otherwise the serial order
    running: dict[Any, Task] = {}
    finished = as_completed()
    run_id = uuid.uuid4().hex[:8]

    def fill() -> None:
        threads = max(1, sum(client.nthreads().values()))
        while len(running) < threads and (task := next(waiting, None)) is not None:
            future = client.submit(execute, task, contexts[task.experiment], key=f"{task.label}-{run_id}")
            running[future] = task
            finished.add(future)

    fill()
    for future in finished:
        yield running.pop(future), future
        fill()


def run_on_cluster(names: Sequence[str], ctx_for: Callable[[str], Context], client,
                   progress: bool = True) -> Iterator[Report]:
    """Run the tasks of ``names`` on ``client``'s workers; yield each experiment's report, in order.

    A task whose worker dies is rerun elsewhere by the scheduler. One progress bar counts the tasks.
    """
    from tqdm.auto import tqdm

    contexts = {name: ctx_for(name) for name in names}
    tasks = plan(names, ctx_for)
    done: dict[Task, dict] = {}
    with tqdm(total=len(tasks), desc="tasks", unit="task", file=sys.stderr, disable=not progress) as bar:
        for task, future in _dispatch(client, tasks, contexts):
            try:
                done[task] = future.result()
            except Exception as e:  # e.g. KilledWorker: its workers kept dying; the others' results stand
                done[task] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
            ctx = contexts[task.experiment]
            for rel, data in done[task].pop("files", {}).items():
                write_bytes(ctx.out / rel, data)
            bar.update()
    for name in names:
        ctx = contexts[name]
        mine = [t for t in tasks if t.experiment == name]
        errors = [done[t] for t in mine if "error" in done[t]]
        if errors:
            print(f"{name}: {errors[0]['traceback']}", file=sys.stderr, flush=True)
            yield crashed(name, errors[0]["error"])
            continue
        wall = sum(done[t]["wall_s"] for t in mine)
        if mine[0].key is None:
            report = done[mine[0]]["result"]
        else:
            try:
                with blas_threads(ctx.blas_threads):
                    report = experiment(name).summarize(ctx, {t.key: done[t]["result"] for t in mine})
            except Exception as e:
                traceback.print_exc()
                yield crashed(name, f"{type(e).__name__}: {e}")
                continue
        report.wall_s = round(wall, 2)
        yield finish(report, ctx)


def run_experiments(names: Sequence[str], ctx_for: Callable[[str], Context], workers: int | None = None,
                    scheduler: str | None = None) -> list[Report]:
    """Every experiment's report: in this process, or on Dask workers with ``workers`` or ``scheduler``."""
    if not workers and not scheduler:
        return list(run_serial(names, ctx_for))
    with dask_client(workers, scheduler) as client:
        return list(run_on_cluster(names, ctx_for, client))
