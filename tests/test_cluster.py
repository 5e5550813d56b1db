"""grading.cluster's settings reach a scheduler and workers that the course does not start itself."""
from __future__ import annotations

import copy
import os
import re
import socket
import subprocess
import sys
import threading
import time
import types

import dask
import distributed  # noqa: F401  (registers its settings, as a real scheduler session would)
import pytest

import grading_helpers as gh
from grading import cluster


def assert_reads_back_as_remote_config(env):
    """DASK_* variables `env`, read by Dask's own parser, give exactly the course's settings."""
    seen = dask.config.collect_env(env)
    for key, value in cluster.remote_config().items():
        assert dask.config.get(key, config=seen) == value, key


@pytest.fixture
def dask_config():
    """Dask's global configuration, restored after the test."""
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def test_remote_config_is_the_local_one_without_the_local_only_settings():
    remote, local = cluster.remote_config(), cluster.local_config()
    assert set(remote) == set(local) - set(cluster.LOCAL_ONLY)
    assert remote["distributed.scheduler.allowed-failures"] == cluster.ALLOWED_FAILURES
    assert remote["distributed.scheduler.worker-saturation"] == 1.0


def test_dask_environment_reads_back_as_the_remote_config():
    """`dask worker` started with these variables sees exactly the course's settings."""
    assert_reads_back_as_remote_config(cluster.dask_environment())


def test_guide_jobqueue_recipe_sets_the_scheduler_and_the_workers(dask_config, monkeypatch):
    """The Instructor guide's dask-jobqueue snippet, run as written against a stand-in
    SLURMCluster: the scheduler (this session) gets the course's settings, and the workers'
    job script exports them."""
    text = (gh.REPO / "book" / "instructor_guide.md").read_text()
    snippet = re.search(r"```python\n(import dask\nfrom dask_jobqueue import SLURMCluster\n.*?)```", text, re.S)
    assert snippet, "the guide's dask-jobqueue example is gone"
    made = {}

    class SLURMCluster:
        scheduler_address = "tcp://login1:8786"

        def __init__(self, **kwargs):
            made.update(kwargs, scheduler_config=dask.config.get("distributed.scheduler"))

        def scale(self, jobs):
            made["jobs"] = jobs

    monkeypatch.setitem(sys.modules, "dask_jobqueue", types.SimpleNamespace(SLURMCluster=SLURMCluster))
    exec(compile(snippet.group(1), "instructor_guide.md", "exec"), {"print": lambda *a: None})
    assert made["scheduler_config"]["allowed-failures"] == cluster.ALLOWED_FAILURES
    assert made["scheduler_config"]["worker-saturation"] == 1.0
    assert made["worker_extra_args"] == ["--preload", "grading.task"] and made["cores"] == made["processes"]
    script = "\n".join(made["job_script_prologue"][2:]) + "\nenv -0"  # the exports, as bash runs them
    env = dict(line.split("=", 1) for line in subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={}, check=True).stdout.split("\0") if line)
    assert_reads_back_as_remote_config(env)


def test_printed_worker_line_carries_the_settings():
    """`python -m grading.cluster worker` prints one line that starts the same worker elsewhere."""
    cmd = cluster.command("worker", "tcp://grader1:8786", 4)
    line = cluster.shell_line(cmd)
    out = subprocess.run(["bash", "-c", line.replace(cmd[0], "env -0; echo", 1)], capture_output=True,
                         text=True, env={}, check=True).stdout.split("\0")
    env = dict(entry.split("=", 1) for entry in out[:-1])
    assert out[-1].split() == cmd[1:]
    assert_reads_back_as_remote_config(env)


@pytest.mark.parametrize("argv, want", [
    (["scheduler", "tcp://grader1:8790", "--host", "10.0.0.5"],
     ["scheduler", "--port", "8790", "--no-dashboard", "--host", "10.0.0.5"]),
    (["worker", "tcp://grader1:8786", "--nworkers", "2", "--tls-ca-file", "ca.pem"],
     ["worker", "tcp://grader1:8786", "--nthreads", "1", "--no-dashboard", "--preload", "grading.task",
      "--nworkers", "2", "--tls-ca-file", "ca.pem"]),
])
def test_dask_options_after_the_address_reach_dask(monkeypatch, capsys, argv, want):
    """A MOOC operator could not keep the scheduler off the public interface: `--host` was
    refused ("unrecognized arguments"). Options the wrapper does not know go to Dask as they are."""
    ran = []
    monkeypatch.setattr(cluster.os, "execve", lambda path, cmd, env: ran.append(cmd))
    monkeypatch.setattr(cluster, "wait_for_scheduler", lambda address: None)
    monkeypatch.setattr(cluster, "check_port_free", lambda port, host=None: None)
    cluster.main(argv)
    assert ran[0][1:] == want
    assert capsys.readouterr().err.rstrip().endswith(" ".join(want[-2:]))   # the printed line too


def test_local_cluster_takes_a_free_port_when_8787_is_busy(tmp_path):
    """On a shared server another user's Dask or Jupyter often holds 8787; the local cluster
    then printed "Port 8787 is already in use. Perhaps you already have a cluster running?"
    in the middle of the progress lines, which reads as a grading run still going."""
    script = tmp_path / "start.py"
    script.write_text(
        "import socket, sys, warnings\n"
        f"sys.path.insert(0, {str(gh.REPO)!r})\n"
        "def main():\n"
        "    held = socket.socket()\n"
        "    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    try:\n"
        "        held.bind(('', 8787)); held.listen()\n"
        "    except OSError:\n"
        "        pass   # already held by something else: the same situation\n"
        "    from grading.cluster import Connection\n"
        "    conn = Connection(None, 1).start()\n"
        "    print('workers', len(conn.client().scheduler_info()['workers']))\n"
        "    conn.close(); held.close()\n"
        "if __name__ == '__main__':\n"
        "    warnings.simplefilter('always')\n"
        "    main()\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=gh.env())
    assert run.returncode == 0 and "workers 1" in run.stdout, run.stderr[-2000:]
    assert "8787" not in run.stderr and "already in use" not in run.stderr, run.stderr[-2000:]


def test_workers_that_cannot_grade_are_named_with_their_machine_and_reason(monkeypatch, capsys):
    """The check at connect names each unfit worker, its machine and what to do, and retires
    it when another worker can grade (an instructor's trial: one stale machine of many stopped
    the whole class at the start, while one that joined later was only retired); with none
    fit it stops. One answer lost because its worker left is not a problem when others answered."""
    from grading.task import code_fingerprint
    ok = {"sandbox": "", "code": code_fingerprint(), "pid": 1, "host": "grader1"}
    unfit = {"tcp://10.0.0.2:2": dict(ok, code="other", host="grader2"),
             "tcp://10.0.0.3:3": dict(ok, sandbox="user namespaces are off: kernel.unprivileged_userns_clone=1.", host="grader3"),
             "tcp://10.0.0.4:4": ModuleNotFoundError("No module named 'grading'"),
             "tcp://10.0.0.5:5": OSError("gone")}
    retired = []
    client = types.SimpleNamespace(run=lambda fn, on_error: unfit,
                                   retire_workers=lambda workers, close_workers: retired.append(workers))
    with pytest.raises(cluster.ClusterUnavailable) as err:
        cluster.probe_workers(client, "tcp://10.0.0.9:8786")
    lines = str(err.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["tcp"] * 3, lines
    assert "tcp://10.0.0.2:2 (on grader2): runs other grading/ or cnnlib/ code" in lines[0]
    assert "every machine needs the same commit" in lines[0]
    assert "tcp://10.0.0.3:3 (on grader3): no sandbox: user namespaces are off" in lines[1]
    assert "tcp://10.0.0.4:4: cannot import the grader" in lines[2]
    assert "`python -m grading.cluster worker`" in lines[2]
    assert retired == [] and capsys.readouterr().out == ""
    client.run = lambda fn, on_error: dict(unfit, **{"tcp://10.0.0.1:1": ok})
    cluster.probe_workers(client, "tcp://10.0.0.9:8786")   # grading goes on, on 10.0.0.1
    assert retired == [["tcp://10.0.0.2:2", "tcp://10.0.0.3:3", "tcp://10.0.0.4:4"]], retired
    out = capsys.readouterr().out
    assert "worker tcp://10.0.0.2:2 (on grader2): runs other grading/ or cnnlib/ code" in out, out
    assert "tcp://10.0.0.1:1" not in out and out.count("It leaves the cluster; grading goes on on the 1 other") == 3, out
    assert ".." not in out, out
    cluster.probe_workers(types.SimpleNamespace(run=lambda fn, on_error: {"a": ok}), "s")   # fine


def test_a_scheduler_without_workers_says_it_waits_then_what_to_start(monkeypatch, capsys):
    from distributed import Client, LocalCluster
    monkeypatch.setattr(cluster, "WORKER_WAIT_S", 1.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        with pytest.raises(cluster.ClusterUnavailable) as err:
            cluster._connect(Client, empty.scheduler_address)
    assert f"waiting up to 1 s for a worker to join the scheduler at {empty.scheduler_address}" \
        in capsys.readouterr().err
    assert "has no workers after 1 s" in str(err.value)
    assert "`python -m grading.cluster worker` in the course checkout" in str(err.value)


CTRL_C_IN_A_WORKER = """
import logging, os, signal, sys
from grading.cluster import grading_client

def log(text):
    logging.getLogger("distributed.worker").error(text)
    return os.getpid()

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    return os.getpid()

if __name__ == "__main__":
    with grading_client(None, 1) as client:
        pids = [client.run(log, "before Ctrl-C"), client.run(ctrl_c), client.run(log, "after Ctrl-C")]
        print("workers", len({pid for run in pids for pid in run.values()}), flush=True)
"""


@pytest.mark.slow
@pytest.mark.sandbox
def test_local_worker_survives_ctrl_c_and_logs_nothing_after_it(tmp_path):
    """Ctrl-C reaches the local workers with the coordinator. A worker goes on (the
    coordinator stops it) and shows nothing of Dask from then on: the scheduler closing while
    a heartbeat was on its way once printed two tracebacks in a Ctrl-C'd batch (CI, 5 Dec)."""
    script = tmp_path / "ctrl_c_worker.py"
    script.write_text(CTRL_C_IN_A_WORKER)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=gh.REPO, env=gh.env())
    assert run.returncode == 0 and "workers 1" in run.stdout, run.stderr[-2000:]
    assert "before Ctrl-C" in run.stderr, run.stderr[-2000:]          # logs showed until then
    assert "after Ctrl-C" not in run.stderr, run.stderr[-2000:]


@pytest.mark.slow
def test_ctrl_c_stops_a_grading_machine_at_once_without_tracebacks(tmp_path):
    """Ctrl-C in the terminal of `python -m grading.cluster worker` reaches the `dask worker`
    process and its worker processes. Each worker process began to close on its own while its
    nanny asked it to: a CommClosedError traceback, then "Worker process still alive after 8.0
    seconds, killing". Now the nannies alone close them."""
    import os
    import signal
    import socket
    import time
    from distributed import Client
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    procs, logs = {}, {}
    try:
        for role, extra in (("scheduler", []), ("worker", ["--nworkers", "2"])):
            logs[role] = tmp_path / f"{role}.log"
            with open(logs[role], "w") as log:
                procs[role] = subprocess.Popen(
                    [sys.executable, "-m", "grading.cluster", role, address, *extra], cwd=gh.REPO,
                    env=gh.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if role == "scheduler":
                deadline = time.monotonic() + 120
                while True:
                    with socket.socket() as sock:
                        if sock.connect_ex(("127.0.0.1", int(address.rsplit(":", 1)[1]))) == 0:
                            break
                    assert time.monotonic() < deadline, logs[role].read_text()[-2000:]
                    time.sleep(0.2)
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=240)
        os.killpg(procs["worker"].pid, signal.SIGINT)       # Ctrl-C in the worker's terminal
        procs["worker"].wait(timeout=60)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    log = logs["worker"].read_text()
    assert "End worker" in log, log[-3000:]
    assert "Traceback" not in log and "still alive" not in log, log[-3000:]


def test_the_guide_counts_the_retries_of_a_dying_worker_as_configured():
    """The Instructor guide says a task whose worker dies "is run again at most twice" and speaks of
    a worker that "died three times": Dask's allowed-failures, and the death that exceeds it."""
    text = " ".join((gh.REPO / "book" / "instructor_guide.md").read_text().split())
    words = {1: "once", 2: "twice", 3: "three times", 4: "four times"}
    assert f"a task whose worker dies is run again at most {words[cluster.ALLOWED_FAILURES]}" in text
    assert f"each submission whose worker died {words[cluster.ALLOWED_FAILURES + 1]}" in text


def test_a_worker_without_a_sandbox_is_explained_as_a_worker():
    """The probe's screen speaks of `make grade` on this machine ("No student code was run: make
    grade changes no grade"); said of a worker that leaves mid-batch, while the batch goes on
    grading, it was wrong. The worker's reason keeps the cause and the advice only."""
    from grading.cluster import unfit_reason
    from grading.probe import explain
    screen = explain("bwrap: No permissions to create new namespace", "/opt/bwrap")
    reason = unfit_reason({"sandbox": screen, "code": "same"}, "same")
    assert reason.startswith("no sandbox: The grading jail (bubblewrap) cannot start on this machine: bwrap: No")
    assert "No student code was run" in screen and "No student code was run" not in reason
    assert "for this user" not in reason and "works for the user that runs the worker" in reason
    assert unfit_reason({"sandbox": "", "code": "same"}, "same") == ""
    assert unfit_reason({"sandbox": "", "code": "other"}, "same").startswith("runs other grading/")


# ----------------------------------------------------------------------------- wrong addresses
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that takes connections and never answers (as the scheduler's HTTP port 8787 does
    to Dask's handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    taken = []

    def accept():
        while True:
            try:
                taken.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in taken:
        conn.close()


def test_a_port_that_never_answers_is_a_clear_error_in_time(monkeypatch, silent_port):
    """A MOOC operator gave make grade the scheduler's HTTP port 8787: it waited 12 minutes
    without a word (Dask's connect has no deadline on its handshake). Now the whole connect has
    one, and the message says what answered."""
    from distributed import Client
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    with pytest.raises(cluster.ClusterUnavailable) as err:
        cluster._connect(Client, f"tcp://127.0.0.1:{silent_port}")
    assert time.monotonic() - t0 < 8
    assert str(err.value).startswith(f"no Dask scheduler answered at tcp://127.0.0.1:{silent_port}: "
                                     f"something else listens on that port"), err.value
    assert "8787" not in str(err.value) and cluster.SCHEDULER_ENV in str(err.value)


def test_the_http_port_is_named_as_such():
    line = cluster.address_problem("tcp://grader1:8787", "silent", "")
    assert line.startswith("no Dask scheduler answered at tcp://grader1:8787")
    assert "the scheduler listens on 8786, and 8787 is its HTTP port" in line


@pytest.mark.parametrize("address", ["http://127.0.0.1:8787", "https://grader1/status"])
def test_a_web_address_is_told_to_use_tcp(address):
    """It said "cannot reach ... within 10 s (ValueError: unknown address scheme 'http')": no
    wait took place, and the fix is the scheme."""
    from distributed import Client
    with pytest.raises(cluster.ClusterUnavailable) as err:
        cluster._connect(Client, address)
    assert f"{address} is a web address" in str(err.value) and "tcp://HOST:8786" in str(err.value)
    assert "ValueError" not in str(err.value) and "within" not in str(err.value)


def test_a_closed_port_still_says_cannot_reach_and_how_to_start_it(monkeypatch):
    from distributed import Client
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    port = free_port()
    with pytest.raises(cluster.ClusterUnavailable) as err:
        cluster._connect(Client, f"tcp://127.0.0.1:{port}")
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 1 s" in str(err.value)
    assert "`python -m grading.cluster scheduler`" in str(err.value)


def run_main(monkeypatch, argv):
    """`cluster.main(argv)`: (the command it would exec, its environment), or SystemExit."""
    ran = []
    monkeypatch.setattr(cluster.os, "execve", lambda path, cmd, env: ran.append((cmd, env)))
    cluster.main(argv)
    return ran[0]


def test_a_worker_on_a_port_that_never_answers_stops_with_one_line(monkeypatch, capsys, silent_port):
    with pytest.raises(SystemExit) as stop:
        monkeypatch.setattr(cluster, "WORKER_START_WAIT_S", 1.0)
        run_main(monkeypatch, ["worker", f"tcp://127.0.0.1:{silent_port}"])
    assert str(stop.value.code) == (f"grading.cluster: no Dask scheduler answered at "
                                    f"tcp://127.0.0.1:{silent_port}: something else listens on that port")


def test_a_worker_with_a_web_address_stops_with_one_line(monkeypatch):
    with pytest.raises(SystemExit) as stop:
        run_main(monkeypatch, ["worker", "http://127.0.0.1:8787"])
    assert "is a web address" in str(stop.value.code) and "tcp://HOST:8786" in str(stop.value.code)


def test_a_worker_without_a_scheduler_waits_then_says_why_it_stops(monkeypatch, capsys):
    """It died after 30 s with a 92-line traceback ("Nanny failed to start")."""
    monkeypatch.setattr(cluster, "WORKER_START_WAIT_S", 1.5)
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as stop:
        run_main(monkeypatch, ["worker", address])
    assert f"waiting up to 1.5 s for the scheduler at {address}" in capsys.readouterr().err
    assert str(stop.value.code).startswith(f"grading.cluster: could not reach the scheduler at {address} "
                                           f"within 1.5 s"), stop.value.code
    assert "is it started" in str(stop.value.code) and cluster.SCHEDULER_ENV in str(stop.value.code)


def test_a_worker_started_before_its_scheduler_waits_for_it(capsys):
    """The guide's recovery recipe starts the scheduler, then the workers: a worker started a
    little early died. It waits now; and it will not take a Dask worker for its scheduler."""
    from distributed import LocalCluster
    port = free_port()
    address, started = f"tcp://127.0.0.1:{port}", {}

    def start_later():
        time.sleep(1.0)
        started["cluster"] = LocalCluster(n_workers=1, processes=False, protocol="tcp", scheduler_port=port,
                                          dashboard_address=":0")

    later = threading.Thread(target=start_later)
    later.start()
    try:
        cluster.wait_for_scheduler(address, wait=60)
        assert f"waiting up to 60 s for the scheduler at {address}" in capsys.readouterr().err
        later.join()
        worker = next(iter(started["cluster"].scheduler_info["workers"]))
        with pytest.raises(SystemExit) as stop:
            cluster.wait_for_scheduler(worker, wait=5)
        assert f"a Dask worker answers at {worker}, not a scheduler" in str(stop.value.code)
    finally:
        later.join()
        if "cluster" in started:
            started["cluster"].close()


def test_a_scheduler_on_a_port_in_use_stops_with_one_line(monkeypatch):
    """A second scheduler printed 78 lines with "Address already in use" buried in them."""
    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        port = held.getsockname()[1]
        for argv in (["scheduler", f"tcp://grader1:{port}"], ["scheduler", "--port", str(port)]):
            with pytest.raises(SystemExit) as stop:
                run_main(monkeypatch, argv)
            assert str(stop.value.code).startswith(
                f"grading.cluster: port {port} is in use: another scheduler?")
    cmd, _ = run_main(monkeypatch, ["scheduler", f"tcp://grader1:{port}"])   # free again
    assert cmd[1:4] == ["scheduler", "--port", str(port)]


def test_remote_scheduler_and_workers_get_a_private_scratch_folder(monkeypatch, tmp_path):
    """/tmp/dask-scratch-space belongs to the first account that used it; Dask then warned of a
    PermissionError on the others' workers. The local cluster had its own folder already."""
    import tempfile
    monkeypatch.delenv("DASK_TEMPORARY_DIRECTORY", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cluster, "check_port_free", lambda port, host=None: None)
    _, env = run_main(monkeypatch, ["scheduler"])
    scratch = env["DASK_TEMPORARY_DIRECTORY"]
    assert scratch == str(tmp_path / f"grading-dask-{os.getuid()}")
    assert os.stat(scratch).st_mode & 0o777 == 0o700
    seen = dask.config.collect_env({"DASK_TEMPORARY_DIRECTORY": scratch})
    assert dask.config.get("temporary-directory", config=seen) == scratch
    os.chmod(scratch, 0o777)   # not private (made so by someone): another folder is used
    other = cluster.private_scratch()
    assert other != scratch and os.stat(other).st_mode & 0o777 == 0o700
    monkeypatch.setattr(cluster, "wait_for_scheduler", lambda address: None)
    _, env = run_main(monkeypatch, ["worker", "tcp://grader1:8786", "--local-directory", "/srv/dask"])
    assert "DASK_TEMPORARY_DIRECTORY" not in env   # the operator's choice stands


LOSE_THE_SCHEDULER = """
import os, signal, sys, time
from grading import cluster
cluster.probe_workers = lambda client, scheduler: None   # the workers here have no grader

if __name__ == "__main__":
    conn = cluster.Connection(sys.argv[1], 1).start()
    client = conn.client()
    future = client.submit(time.sleep, 120, pure=False)
    time.sleep(1)
    os.kill(int(sys.argv[2]), signal.SIGKILL)   # the scheduler
    from distributed import wait
    try:
        wait([future], timeout=60)   # as make grade waits for its tasks
    except Exception as exc:
        print("lost", cluster.lost_scheduler(exc), repr(exc), flush=True)
        conn.close()
        print("closed", flush=True)
"""


@pytest.mark.slow
def test_a_lost_scheduler_leaves_no_dask_traceback_on_the_graders_screen(tmp_path):
    """A scheduler killed mid-batch: a 30-line `distributed.client - ERROR` traceback (the
    client's reconnect, cancelled by the close) came before the grader's own clear line."""
    import signal
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    script = tmp_path / "lose.py"
    script.write_text(LOSE_THE_SCHEDULER)
    env = dict(gh.env(), DASK_TEMPORARY_DIRECTORY=str(tmp_path))
    dask_bin = os.path.join(os.path.dirname(sys.executable), "dask")
    procs = []
    try:
        procs.append(subprocess.Popen([dask_bin, "scheduler", "--port", str(port), "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        procs.append(subprocess.Popen([dask_bin, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        run = subprocess.run([sys.executable, str(script), address, str(procs[0].pid)], capture_output=True,
                             text=True, timeout=180, cwd=gh.REPO, env=env)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "lost True" in run.stdout and "closed" in run.stdout, run.stdout + run.stderr[-3000:]
    assert "Traceback" not in run.stderr and "ERROR" not in run.stderr, run.stderr[-3000:]


def test_the_guide_gives_the_workers_wait_for_its_scheduler():
    from pathlib import Path
    from grading.cluster import WORKER_START_WAIT_S
    guide = (Path(__file__).resolve().parent.parent / "book" / "instructor_guide.md").read_text()
    assert f"A worker started before its scheduler waits up to {WORKER_START_WAIT_S:g} s" in guide


LOCAL_CLUSTER = """
from grading.cluster import grading_client

if __name__ == "__main__":
    with grading_client(None, 1) as client:
        print("workers", sum(client.run(lambda: 1).values()), flush=True)
"""


@pytest.mark.slow
def test_the_local_cluster_keeps_all_of_dasks_files_in_its_own_folder(tmp_path):
    """The scheduler wrote to the shared <tmp>/dask-scratch-space: on a server where another
    account had left a lock there, every make grade printed a 20-line PermissionError (an
    instructor's trial as `nobody`). Nothing of Dask is left in the temporary folder."""
    script, tmp = tmp_path / "local_cluster.py", tmp_path / "tmp"
    script.write_text(LOCAL_CLUSTER)
    tmp.mkdir()
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=gh.REPO, env=dict(gh.env(), TMPDIR=str(tmp)))
    assert run.returncode == 0 and "workers 1" in run.stdout, run.stdout + run.stderr
    assert list(tmp.iterdir()) == [], list(tmp.iterdir())
