"""reproduce.py on Dask distributed: the serial --quick table, also when a worker dies mid-task."""

import json
import os
import runpy
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="Dask distributed: pip install -e '.[cluster]'")

REPO = Path(__file__).resolve().parent.parent
REPRODUCE = runpy.run_path(str(REPO / "scripts" / "reproduce.py"), run_name="not_main")
#: Tasks that run for seconds even in --quick: a worker killed while running one dies mid-task.
LONG_TASKS = ("ch04_train/", "ch05_train_relu/", "ch06_hyperparameter_search/", "ch06_batchnorm/")


def quick_run(out: Path, *flags: str) -> dict:
    code = REPRODUCE["main"](["--quick", "--no-figures", "--out", str(out), *flags])
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0, [c for c in summary["checks"] if not c["ok"]]
    return summary


def data_files(root: Path) -> dict[str, bytes]:
    """Every CSV the experiments wrote: the losses and accuracies of every step and epoch."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


@pytest.fixture(scope="module")
def mnist_env(tmp_path_factory, real_mnist):
    with real_mnist(tmp_path_factory.mktemp("cache")):
        yield


@pytest.fixture(scope="module")
def serial(mnist_env, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("serial")
    return quick_run(out), out


def test_two_local_workers_give_the_serial_table_and_files(serial, tmp_path: Path):
    serial_summary, serial_out = serial
    summary = quick_run(tmp_path, "--workers", "2")
    assert summary["checks"] == serial_summary["checks"]
    assert len(summary["checks"]) > 40
    ran = {c["experiment"] for c in summary["checks"]}
    assert {"ch07_train_convnet", "ch07_filters", "ch08_train_deepnet", "ch08_half_float_network"} <= ran
    files = data_files(tmp_path)
    assert files.keys() == data_files(serial_out).keys() and "ch05_train_relu/seed0_loss.csv" in files
    assert files == data_files(serial_out)  # bit for bit: every loss of every step


class Transitions(distributed.diagnostics.plugin.SchedulerPlugin):
    """Records every task state transition the scheduler makes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        self.seen.append((str(key), start, finish))


def test_a_worker_killed_mid_task_has_its_task_rerun_and_the_table_is_the_same(serial, tmp_path: Path):
    from scratchnet_book.runner import dask_client

    serial_summary, serial_out = serial
    transitions = Transitions()
    with dask_client(workers=2) as client:  # the LocalCluster --workers 2 makes
        cluster = client.cluster
        cluster.scheduler.add_plugin(transitions)
        with ThreadPoolExecutor(1) as pool:
            run = pool.submit(quick_run, tmp_path / "out", "--scheduler", cluster.scheduler_address)
            victim = None
            deadline = time.monotonic() + 300
            while victim is None and not run.done() and time.monotonic() < deadline:
                running = client.run(lambda dask_worker: (os.getpid(), [
                    str(ts.key) for ts in dask_worker.state.tasks.values() if ts.state == "executing"]))
                for pid, keys in running.values():
                    long = [k for k in keys if k.startswith(LONG_TASKS)]
                    if long:
                        victim = pid, long[0]
                        os.kill(pid, signal.SIGKILL)
                        break
                time.sleep(0.2)
            summary = run.result(timeout=600)
    assert victim is not None, "no worker was caught running a long task"
    pid, key = victim
    moves = [(start, finish) for k, start, finish in transitions.seen if k == key]
    assert ("processing", "memory") in moves  # it finished in the end...
    assert moves.count(("waiting", "processing")) + moves.count(("released", "processing")) >= 2  # ...rerun
    assert summary["checks"] == serial_summary["checks"]
    assert data_files(tmp_path / "out") == data_files(serial_out)


def test_without_dask_workers_says_in_one_line_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    code = REPRODUCE["main"](["--quick", "--workers", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].endswith("need Dask distributed: pip install -e '.[cluster]'")


def test_workers_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as e:
        REPRODUCE["main"](["--workers", "0"])
    assert e.value.code == 2
    assert "expected a number of workers >= 1, got 0" in capsys.readouterr().err


def test_the_cluster_listens_on_127_0_0_1_only(mnist_env):
    from scratchnet_book.runner import dask_client

    with dask_client(workers=1) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"], *(w["nanny"] for w in info["workers"].values())]
        assert len(addresses) == 3 and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
        assert client.cluster.scheduler.http_server.address == "127.0.0.1"  # its /health and dashboard


def test_the_hyperparameter_search_spreads_its_trials_with_the_serial_results(mnist_env, tmp_path: Path):
    from scratchnet_book import ch06_hyperparameter_search as search

    assert search.main(["--quick", "--no-figures", "--out", str(tmp_path / "serial")]) == 0
    assert search.main(["--quick", "--no-figures", "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    trials = (tmp_path / "serial" / "trials.csv").read_text()
    assert len(trials.splitlines()) == 1 + search.QUICK_TRIALS
    assert (tmp_path / "dask" / "trials.csv").read_text() == trials


def test_the_cluster_holds_only_as_many_tasks_as_threads_and_starts_the_longest_first(monkeypatch):
    """A task handed to Dask is assigned to a worker at once and may wait there behind a long one while
    another worker is idle; the runner keeps the rest back and gives each to the first free thread."""
    from scratchnet_book import runner

    started: list[str] = []

    def execute(task, ctx):
        started.append(task.label)
        time.sleep(0.05)
        return {"result": task.label, "files": {}, "wall_s": 0.05}

    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setattr(runner, "_seconds", lambda task: {"b": 5.0, "d": 9.0}.get(task.key, 0.0))
    tasks = [runner.Task("x", key) for key in "abcdef"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        submitted: list[str] = []
        real_submit = client.submit

        def submit(fn, task, *args, **kwargs):
            submitted.append(task.label)
            return real_submit(fn, task, *args, **kwargs)

        monkeypatch.setattr(client, "submit", submit)
        in_flight = []
        finished = []
        for task, future in runner._dispatch(client, tasks, {"x": None}):
            in_flight.append(len(submitted) - len(finished))
            finished.append(future.result()["result"])
            assert finished[-1] == task.label  # each future comes back with its own task
    assert sorted(finished) == sorted(t.label for t in tasks)
    assert max(in_flight) <= 2  # never more tasks in Dask's hands than the 2 threads
    assert submitted[:2] == ["x/d", "x/b"]  # the longest first, then the serial order
    assert submitted[2:] == ["x/a", "x/c", "x/e", "x/f"]
