"""Where `make grade` runs its tasks: a Dask cluster, local by default or given by address.

    grading_client(None, n_workers=4)                    a LocalCluster on this machine
    grading_client("tcp://10.0.0.5:8786", n_workers=0)   an existing `dask scheduler`

The course's policy, Dask's mechanism: one task per submission, one thread per worker process
(a worker grades one submission at a time; nbgrader is not thread-safe), a task whose worker
dies is run again elsewhere at most ``ALLOWED_FAILURES`` times (Dask's
``distributed.scheduler.allowed-failures``; then the coordinator gets ``KilledWorker`` and
flags the submission for a person). A scheduler that cannot be reached, that has no workers,
or whose workers cannot confine student code (or run other grader code) raises
`ClusterUnavailable` before anything is graded.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from contextlib import ExitStack, contextmanager

SCHEDULER_ENV = "CNN_GRADING_SCHEDULER"   # default of --scheduler
ALLOWED_FAILURES = 2       # a local cluster's retries of a task whose worker died (then flagged)
CONNECT_TIMEOUT_S = 10.0   # to reach a scheduler
WORKER_START_WAIT_S = 60.0  # a worker started before its scheduler waits this long for it
SCHEDULER_PORT, HTTP_PORT = 8786, 8787   # Dask's defaults: its protocol, its web pages
WORKER_WAIT_S = 60.0       # for a scheduler's first worker (workers start while we connect)


class ClusterUnavailable(RuntimeError):
    """No cluster to grade on (unreachable scheduler, no workers, workers without a sandbox)."""


def local_config() -> dict:
    """Dask settings of the local cluster (a real scheduler has its own, see the Instructor guide)."""
    return {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        # A worker holds one task at a time: no submission waits behind a slow one (make grade
        # also sends no more tasks than there are worker threads, `Batch.follow_workers`).
        "distributed.scheduler.worker-saturation": 1.0,
        # Workers import nbgrader and the grader while this process reads the class.
        "distributed.worker.preload": ["grading.task"],
        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536; with it, the
        # sandbox's large exchanges (03b_im2col sends 2 x 32 MB in, 16 MB back) crashed a
        # correct check. The jail sets its own environment; the worker keeps glibc's default.
        "distributed.nanny.pre-spawn-environ": {},
        # Workers are forked from a process that imported the grader once (see
        # `preload_forkserver`), not each started afresh.
        "distributed.worker.multiprocessing-method": "forkserver",
        # Every task needs the batch's course data, held by the worker that computed it: Dask
        # places a task only on a worker that holds its inputs, and a free worker gets one by
        # stealing it (and the data with it). Once it has the data it keeps it: the memory
        # manager would drop the copy, and the worker would idle again until the next steal.
        "distributed.scheduler.active-memory-manager.start": False,
        # Dask's own bookkeeping is sized for many short tasks; ours are a few long ones. Its
        # 10 ms stack sampler, 20 ms event-loop ticks and 100 ms memory checks cost CPU that
        # the sandboxes need on a small machine (see `python -m bench grading`).
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.worker.memory.monitor-interval": "1s",
    }


def preload_forkserver() -> None:
    """Local workers start as forks of one process that imported the grader once.

    With Python's default start method for Dask ("spawn") each worker process imports
    distributed, nbgrader and the grader itself, a few CPU seconds each, on a machine whose
    cores grade. The forkserver imports them once and forks the workers (and any worker
    that Dask restarts) from that state. Dask's own forkserver list would import only
    distributed and its dependencies.
    """
    import multiprocessing

    from distributed import utils
    from grading.task import WORKER_IMPORTS
    # Not the coordinator's own module: each worker runs it as __mp_main__ (runpy would warn).
    imports = [name for name in WORKER_IMPORTS if name != "grading.grade"]
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["distributed", *imports, "grading.quiet_workers"])   # last: workers take Ctrl-C quietly
    utils._forkserver_preload_set = True   # Dask's get_mp_context keeps this list


def stop_forkserver() -> None:
    """Stop the forkserver of `preload_forkserver` (if one runs) and wait for it.

    Its workers have stopped and it has reaped them, so their CPU time, and its own, counts
    among this process's children (`python -m bench grading` measures it so). Python stops
    it at exit anyway; the call is ``ForkServer._stop``, which Python's own tests use.
    """
    from multiprocessing import forkserver
    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


class Connection:
    """A Dask client made in the background, while the coordinator reads the class.

        conn = Connection(None, n_workers=2).start()   # a LocalCluster starts meanwhile
        client = conn.client()                         # waits; ClusterUnavailable if none
        conn.close()                                   # stops what it started
        conn.close_in_background().join()              # the same, while this thread works
    """

    def __init__(self, scheduler: str | None, n_workers: int):
        self.scheduler, self.n_workers = scheduler, max(1, n_workers)
        self._stack = ExitStack()
        self._client = self._error = self._thread = None

    def start(self) -> "Connection":
        self._thread = threading.Thread(target=self._open, name="grading-cluster", daemon=True)
        self._thread.start()
        return self

    def client(self):
        if self._thread is None:
            self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._stack.close()

    def close_in_background(self) -> threading.Thread:
        """Start `close` in a thread (the workers stop while the report is written); join it."""
        thread = threading.Thread(target=self.close, name="grading-cluster-close", daemon=True)
        thread.start()
        return thread

    def _open(self) -> None:
        try:
            self._client = self._stack.enter_context(grading_client(self.scheduler, self.n_workers))
        except BaseException as exc:   # handed to the caller of client()
            self._error = exc


@contextmanager
def grading_client(scheduler: str | None, n_workers: int):
    """A connected ``distributed.Client``: to ``scheduler``, or to a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster
    if scheduler:
        client = _connect(Client, scheduler)
        try:
            probe_workers(client, scheduler)
            yield client
        finally:
            if client.status != "running":   # the scheduler went away: make grade says so
                quiet_cluster_logs()   # not Dask's traceback of the reconnect that close cancels
            client.close(timeout=CONNECT_TIMEOUT_S)
        return
    import shutil
    import tempfile
    # Dask's files in a private folder, the scheduler's too (its default, /tmp/dask-scratch-space,
    # is shared: another account's leftover lock there printed a traceback at every make grade)
    scratch = tempfile.mkdtemp(prefix="grading-dask-")
    with dask.config.set({**local_config(), "temporary-directory": scratch}):
        if dask.config.get("distributed.worker.multiprocessing-method") == "forkserver":
            preload_forkserver()
        cluster = LocalCluster(n_workers=max(1, n_workers), threads_per_worker=1, processes=True,
                               # a free port: no "8787 in use" warning on a shared server
                               dashboard_address=":0", silence_logs=logging.ERROR,
                               local_directory=scratch)
        try:
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close(timeout=CONNECT_TIMEOUT_S)
        finally:
            cluster.close(timeout=CONNECT_TIMEOUT_S)
            stop_forkserver()
            shutil.rmtree(scratch, ignore_errors=True)


#: the loggers of the cluster's machinery in the coordinator (asyncio: its event loop's tasks)
CLUSTER_LOGGERS = ("distributed", "tornado", "asyncio")


class _DropClusterRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] not in CLUSTER_LOGGERS


def quiet_cluster_logs() -> None:
    """From now on this process shows nothing that Dask, tornado or asyncio log.

    For a batch stopped by Ctrl-C, called by its SIGINT handler before the KeyboardInterrupt
    exists: the interrupt often lands in a ``Client`` call, whose ``distributed.utils.sync``
    then asks the event loop to cancel that call; when the loop runs the cancel before it
    started the call, distributed logs a NameError traceback ("Exception in callback") through
    tornado.application. Closing the cluster afterwards may log about the cancelled tasks too.
    Also called when a remote scheduler went away (`grading_client`), before the client is
    closed: its reconnect, cancelled by the close, logged a 30-line traceback before make
    grade's own line on the lost connection. Until then, errors of the cluster show as usual.
    A filter on the handlers, not levels on the loggers: the records of child loggers
    (``distributed.utils``) that reach a handler are dropped too, whatever level Dask gave
    those loggers.
    """
    handlers = {h for name in (None, *CLUSTER_LOGGERS) for h in logging.getLogger(name).handlers}
    if logging.lastResort is not None:   # the root's stand-in (asyncio's records end there)
        handlers.add(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, _DropClusterRecords) for f in handler.filters):
            handler.addFilter(_DropClusterRecords())


def _is_web_address(address: str) -> bool:
    return address.split("://", 1)[0].lower() in ("http", "https") if "://" in address else False


def _port(address: str) -> int | None:
    host_port = address.split("://", 1)[-1].rstrip("/")
    try:
        return int(host_port.rsplit(":", 1)[1]) if ":" in host_port else None
    except ValueError:
        return None


def ask_scheduler(address: str, timeout: float, retry: bool = True) -> tuple[str, str]:
    """Whether a Dask scheduler answers at `address` within `timeout` seconds, all told.

    ("ok", ""), ("unreachable", why) when no connection was made (nothing listens, no such
    host; a refused connection is tried again until the time is up, unless not `retry`),
    ("silent", "") when something took the connection but did not speak Dask in time (the
    scheduler's HTTP port 8787, another program) or ("other", kind) when a Dask server that is
    not a scheduler answered (a worker's port). Dask's own connect has no deadline on its
    handshake: `Client(address, timeout=10)` waited forever on a port that accepts and never
    answers. Only tcp:// (or HOST:PORT) addresses are asked; others are ("ok", "").
    """
    if "://" in address and not address.lower().startswith("tcp://"):
        return "ok", ""
    import asyncio
    import time
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    deadline = time.monotonic() + timeout
    try:
        host, port = parse_host_port(parse_address(address)[1], SCHEDULER_PORT)
    except ValueError as exc:
        return "unreachable", f"ValueError: {exc}"
    while True:   # first: does anything listen (a scheduler may be starting: retried)
        try:
            socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())).close()
            break
        except OSError as exc:
            if not retry or time.monotonic() + 0.2 >= deadline or isinstance(exc, socket.gaierror):
                return "unreachable", f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
    state: dict = {}

    async def ask():   # then: does it speak Dask (Dask's connect waits for its handshake forever)
        comm = await connect(address, timeout=max(0.1, deadline - time.monotonic()))
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def run():
        try:
            state["answer"] = asyncio.run(asyncio.wait_for(ask(), max(0.1, deadline - time.monotonic())))
        except BaseException as exc:   # read in the caller's thread
            state["error"] = exc

    thread = threading.Thread(target=run, name="grading-ask-scheduler", daemon=True)
    thread.start()
    thread.join(max(0.1, deadline - time.monotonic()) + 5)   # a deadline even if the loop hangs
    answer = state.get("answer")
    if answer is None:
        return "silent", ""
    kind = answer.get("type") if isinstance(answer, dict) else None
    return ("ok", "") if kind == "Scheduler" else ("other", str(kind or "server"))


def address_problem(address: str, kind: str, detail: str) -> str:
    """One line on what answers (or not) at `address`, the scheduler's address, or ""."""
    if _is_web_address(address):
        return (f"{address} is a web address (the scheduler's HTTP pages); give its Dask address, "
                f"tcp://HOST:{SCHEDULER_PORT}")
    if kind == "silent":
        line = f"no Dask scheduler answered at {address}: something else listens on that port"
        if _port(address) == HTTP_PORT:
            line += (f"; the scheduler listens on {SCHEDULER_PORT}, and {HTTP_PORT} is its HTTP port "
                     f"(use tcp://HOST:{SCHEDULER_PORT})")
        return line
    if kind == "other":
        return (f"a Dask {detail.lower()} answers at {address}, not a scheduler; give the scheduler's "
                f"address, tcp://HOST:{SCHEDULER_PORT} by default")
    return ""


def _connect(Client, scheduler: str):
    kind, detail = ("web", "") if _is_web_address(scheduler) else ask_scheduler(scheduler, CONNECT_TIMEOUT_S)
    if problem := address_problem(scheduler, kind, detail):
        raise ClusterUnavailable(f"{problem} (--scheduler or {SCHEDULER_ENV})")
    start_it = (f"Start it with `python -m grading.cluster scheduler` in the course checkout, or unset "
                f"--scheduler / {SCHEDULER_ENV} to grade on this machine")
    if kind == "unreachable":
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler} within "
                                 f"{CONNECT_TIMEOUT_S:g} s ({detail}). {start_it}")
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S:g} s "
            f"({type(exc).__name__}: {exc}). {start_it}") from None
    try:
        if not client.scheduler_info().get("workers"):   # say it before a silent wait
            print(f"waiting up to {WORKER_WAIT_S:g} s for a worker to join the scheduler at {scheduler}",
                  file=sys.stderr, flush=True)
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterUnavailable(
            f"the Dask scheduler at {scheduler} has no workers after {WORKER_WAIT_S:g} s; "
            f"start some with `python -m grading.cluster worker` in the course checkout of each "
            f"grading machine (Instructor guide, section 7)") from None
    return client


def worker_facts() -> dict:
    """On a worker: can it confine student code, and which grader code does it run."""
    from grading.sandbox import SandboxUnavailable, require_sandbox
    from grading.task import code_fingerprint
    try:
        require_sandbox()
        sandbox = ""
    except SandboxUnavailable as exc:
        sandbox = str(exc)
    return {"sandbox": sandbox, "code": code_fingerprint(), "pid": os.getpid(), "host": socket.gethostname()}


def unfit_reason(facts: dict, code: str) -> str:
    """Why a worker with these `worker_facts` cannot grade for a coordinator whose grader code
    has fingerprint `code`, or "" (the rule of the check at connect and of every task)."""
    if facts["sandbox"]:   # the probe's screen, less what it says of `make grade` on this machine
        lines = [line.replace("works for this user", "works for the user that runs the worker")
                 for line in facts["sandbox"].splitlines() if not line.startswith("No student code was run")]
        return "no sandbox: " + "\n".join(lines)
    if facts["code"] != code:
        return ("runs other grading/ or cnnlib/ code than make grade (update its checkout: every "
                "machine needs the same commit)")
    return ""


def lost_scheduler(exc: BaseException) -> bool:
    """Whether `exc` (raised while a batch waits for its tasks) means the scheduler went away."""
    from distributed.client import FutureCancelledError, FuturesCancelledError
    return (isinstance(exc, (FuturesCancelledError, FutureCancelledError))
            and "scheduler-connection-lost" in str(exc))


def close_worker(dask_worker) -> None:
    """Run on a worker (``client.run``): close it, and its nanny, which would start it again.

    For a worker that cannot grade where the scheduler refused to retire it (it held data that
    no other worker has, such as the batch's shared course data when it is the only worker)."""
    dask_worker.loop.add_callback(dask_worker.close, nanny=True, reason="cannot grade: closed by make grade")


def probe_workers(client, scheduler: str) -> None:
    """Retire the workers without the sandbox or this grader's code (each named, with why);
    ClusterUnavailable when no worker is left that can grade. (A worker like that which joins
    later is retired at its first submission: grade.Batch.send_elsewhere.)"""
    from grading.task import code_fingerprint
    try:
        facts = client.run(worker_facts, on_error="return")
    except Exception as exc:  # a worker without the course on its import path, say
        raise ClusterUnavailable(f"the workers of {scheduler} cannot run the grader "
                                 f"({type(exc).__name__}: {exc})") from None
    problems, fit = {}, 0
    for worker, fact in sorted(facts.items()):
        if isinstance(fact, (OSError, TimeoutError)) and len(facts) > 1:
            continue   # a worker that left while answering: Dask reschedules on the others
        if isinstance(fact, BaseException):
            problems[worker] = (f"{worker}: cannot import the grader ({type(fact).__name__}: {fact}); "
                                f"start it with `python -m grading.cluster worker` in the course checkout")
        elif reason := unfit_reason(fact, code_fingerprint()):
            problems[worker] = f"{worker} (on {fact['host']}): {reason}"
        else:
            fit += 1
    if problems and not fit:
        raise ClusterUnavailable("the Dask workers cannot grade:\n  " + "\n  ".join(problems.values()))
    for line in problems.values():   # one stale machine of many does not hold up a class
        print(f"worker {line.rstrip('.')}.\nIt leaves the cluster; grading goes on on the "
              f"{fit} other worker(s)", flush=True)
    if problems:
        try:
            client.retire_workers(sorted(problems), close_workers=True)
        except Exception:   # gone already; one that stays sends its submissions back (see above)
            pass


def executing(dask_worker) -> list[str]:
    """On a worker (via ``client.run``): the keys of the tasks it is running now."""
    return [str(ts.key) for ts in dask_worker.state.executing]


# ----------------------------------------------------------------------------- by hand
#: settings of the local cluster only: `dask worker --preload` says the first; the second
#: needs `preload_forkserver`, which only the local cluster calls
LOCAL_ONLY = ("distributed.worker.preload", "distributed.worker.multiprocessing-method")


def remote_config() -> dict:
    """The local cluster's settings that a scheduler and workers started elsewhere need too
    (`dask.config.set` them where a scheduler starts in Python: dask-jobqueue, dask-kubernetes)."""
    return {key: value for key, value in local_config().items() if key not in LOCAL_ONLY}


def dask_environment() -> dict:
    """`remote_config` as DASK_* variables, for `dask scheduler` and `dask worker`."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in remote_config().items()}


def command(role: str, address: str, nworkers: int | None = None, extra=()) -> list[str]:
    """The `dask scheduler` or `dask worker` command line of a grading machine; `extra` options
    go to Dask unchanged (`--host` to listen on one interface, `--tls-*`)."""
    import sys
    from pathlib import Path
    dask = str(Path(sys.executable).parent / "dask")
    if role == "scheduler":
        host_port = address.split("://", 1)[-1]
        port = host_port.rsplit(":", 1)[1] if ":" in host_port else "8786"
        return [dask, "scheduler", "--port", port, "--no-dashboard", *extra]
    return [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--preload", "grading.task",
            "--nworkers", str(nworkers or os.cpu_count() or 1), *extra]


def shell_line(cmd: list[str], settings: dict | None = None) -> str:
    """`cmd` with the course's DASK_* settings (or `settings`) before it: one line to start it
    elsewhere (a batch job, a Kubernetes pod), run from the course checkout."""
    import shlex
    settings = dask_environment() if settings is None else settings
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in settings.items()), shlex.join(cmd)])


def wait_for_scheduler(address: str, wait: float | None = None) -> None:
    """Before `dask worker` starts: return once a Dask scheduler answers at `address`, waiting
    up to `wait` seconds (WORKER_START_WAIT_S) for one that is not started yet; else SystemExit
    with one line. Dask's worker gives up after 30 s with a 92-line traceback ("Nanny failed to
    start"), and on a port that accepts but does not speak Dask (8787) it waits silently."""
    import time
    wait = WORKER_START_WAIT_S if wait is None else wait
    if _is_web_address(address):
        sys.exit(f"grading.cluster: {address_problem(address, 'web', '')}")
    deadline, said = time.monotonic() + wait, False
    while True:
        kind, detail = ask_scheduler(address, min(5.0, max(0.5, deadline - time.monotonic())), retry=False)
        if kind == "ok":
            return
        if problem := address_problem(address, kind, detail):
            sys.exit(f"grading.cluster: {problem}")
        if time.monotonic() >= deadline:
            sys.exit(f"grading.cluster: could not reach the scheduler at {address} within {wait:g} s "
                     f"({detail}): is it started, and is this the address that make grade uses "
                     f"(--scheduler or {SCHEDULER_ENV})?")
        if not said:
            print(f"waiting up to {wait:g} s for the scheduler at {address} ({detail})",
                  file=sys.stderr, flush=True)
            said = True
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _option(extra, name: str) -> str | None:
    """The value of Dask option `name` (``--host X`` or ``--host=X``) among `extra`, or None."""
    for i, arg in enumerate(extra):
        if arg == name and i + 1 < len(extra):
            return extra[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def check_port_free(port: int, host: str | None = None) -> None:
    """Before `dask scheduler` starts: SystemExit with one line when `port` is taken (Dask says
    "Address already in use" 60 lines into a traceback)."""
    import errno
    with socket.socket(socket.AF_INET6 if host and ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as Dask binds it
        try:
            sock.bind((host or "", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                sys.exit(f"grading.cluster: port {port} is in use: another scheduler? "
                         f"(`ss -ltnp 'sport = :{port}'` names the process)")
            # anything else (a --host that is not this machine's): Dask says it


def private_scratch() -> str:
    """A folder of this user's for Dask's scratch files (not /tmp/dask-scratch-space, which the
    first account to use it owns: Dask then warns of a PermissionError on the other accounts)."""
    import stat
    import tempfile
    path = os.path.join(tempfile.gettempdir(), f"grading-dask-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="grading-dask-")
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return tempfile.mkdtemp(prefix="grading-dask-")   # someone else's: not ours to use
    return path


def main(argv=None) -> None:
    """python -m grading.cluster scheduler|worker [ADDRESS] [--nworkers N] [DASK OPTIONS...]"""
    import argparse
    from pathlib import Path
    p = argparse.ArgumentParser(prog="python -m grading.cluster",
                                description="Start a Dask scheduler or the workers of a grading machine "
                                            "(Instructor guide, 'A class that outgrows one machine').")
    p.add_argument("role", choices=["scheduler", "worker"])
    p.add_argument("address", nargs="?", default=os.environ.get(SCHEDULER_ENV),
                   help=f"tcp://HOST:PORT of the scheduler (default: ${SCHEDULER_ENV})")
    p.add_argument("--nworkers", type=int, help="worker processes (default: one per core)")
    p.epilog = ("Other options go to `dask scheduler` / `dask worker` unchanged, e.g. --host 10.0.0.5 "
                "(listen on that interface only) or Dask's --tls-* options.")
    args, extra = p.parse_known_args(argv)   # the address comes before Dask's options
    if args.role == "worker" and not args.address:
        p.error(f"a worker needs the scheduler's address (tcp://HOST:8786) or ${SCHEDULER_ENV}")
    settings = dask_environment()
    if "DASK_TEMPORARY_DIRECTORY" not in os.environ and _option(extra, "--local-directory") is None:
        settings["DASK_TEMPORARY_DIRECTORY"] = private_scratch()
    env = dict(os.environ, **settings)
    course = str(Path(__file__).resolve().parents[1])   # workers import grading from this checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (course, env.get("PYTHONPATH")) if p)
    cmd = command(args.role, args.address or "tcp://0.0.0.0:8786", args.nworkers, extra)
    if args.role == "worker":
        wait_for_scheduler(args.address)
    else:
        port = _option(extra, "--port") or _port(args.address or "") or SCHEDULER_PORT
        if str(port).isdigit() and int(port):
            check_port_free(int(port), _option(extra, "--host"))
    print("+", shell_line(cmd, settings), file=sys.stderr, flush=True)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
