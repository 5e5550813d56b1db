"""Inside the jail: run the student's cells, then call each graded function on the given inputs.

`grading.sandbox` starts this file in a bubblewrap jail as ``python -I -B /grading/jail_runner.py``
with private size-limited ``/submission`` and ``/tmp``, the job on stdin (frames: the input
arrays, the submission's files, then ``job``), and the result pipe on fd 1. Only the standard
library, NumPy and `grading.exchange` are imported here, before any student code runs.

Processes (the jail's own pid namespace)::

    pid 1   this file's main(): sets up, then only reaps; when it ends, the jail ends
    `-- holder  runs one cell in a fork that becomes the next holder (a looping or crashing
        |       cell is killed and skipped, the state before it is kept)
        `-- one fork per check: calls the target on every case, sends plain values

Each fork gets a CPU-seconds limit (RLIMIT_CPU); the waiting holder stops it when it ends,
when the wall-clock backstop passes, or when the jail made no CPU progress for ``idle``
seconds (a sleeping or blocked student, read from the jail's own ``/proc``). Nothing sent from
here is trusted: the grader decodes it strictly and decides.
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange  # noqa: E402  (the same module the trusted side uses)

del sys.path[0]
OUT = -1          # the result pipe
BLOCKED = ("cnnlib", "scipy.signal", "scipy.ndimage")
TICK = os.sysconf("SC_CLK_TCK")


def send(name, data):
    for part in (exchange.frame_header(name, len(data)), memoryview(data)):
        while part:  # a memoryview: no copy of the rest per write (64 KiB per write on a pipe)
            part = part[os.write(OUT, part):]


def send_json(name, obj):
    send(name, json.dumps(obj).encode())


def main():
    global OUT
    blobs = read_job()
    job = json.loads(blobs.pop("job"))
    alive, OUT = os.dup(0), os.dup(1)  # EOF on `alive`: the grader is gone
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    import numpy  # noqa: F401  (from the Python installation, never from the submission)
    cases = {c["key"]: [(exchange.decode(a, blobs, trusted=True),
                         exchange.decode(k, blobs, trusted=True)) for a, k in c["cases"]]
             for c in job["checks"]}
    unpack(job, blobs)
    del blobs
    os.chdir("/submission")
    confine(job["limits"])
    blocker = ReferenceBlocker()
    if not job["allow_cnnlib"]:
        sys.meta_path.insert(0, blocker)
    sys.path.insert(0, "/submission")
    ns = student_namespace()
    send_json("started", {})
    os.dup2(devnull, 2)
    if _fork() == 0:
        holder(job, ns, cases, blocker)
    reap_until_the_end(alive)


def reap_until_the_end(alive):
    """pid 1 of the jail (bwrap --as-pid-1): reap every process until none is left, or until
    the grader is gone (EOF on `alive`, whose other end only the grader holds). It sleeps
    until a child ends (SIGCHLD) or `alive` ends: the jail ends as soon as its work does."""
    import select
    wake, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            os._exit(0)
        if alive in select.select([alive, wake], [], [])[0]:
            os._exit(0)  # the grader died: ending pid 1 ends every process of the jail
        os.read(wake, 4096)


def holder(job, ns, cases, blocker):
    """Run the cells and the checks (student code from here on), send "done", end the jail."""
    try:
        cells = run_cells(job, ns)
        for i, c in enumerate(job["checks"]):
            run_one_check(job, c, i, ns, cases[c["key"]], blocker)
        done = {"cells": cells, "blocked": blocker.attempts[:20]}
    except BaseException as exc:
        done = {"cells": [], "blocked": blocker.attempts[:20], "holder_error": describe(exc)}
    try:
        send_json("done", done)
    finally:
        kill_stragglers()
        os._exit(0)


def read_job():
    """The job frames on stdin (the grader's, trusted): blobs by name, the job last."""
    reader = exchange.FrameReader(budget=1 << 40)
    while "job" not in reader.frames:
        chunk = os.read(0, 1 << 20)
        if not chunk or reader.broken:
            sys.exit(f"jail_runner: the job did not arrive whole ({reader.broken or 'EOF'})")
        reader.feed(chunk)
    return reader.frames


def unpack(job, blobs):
    """The submission into /submission, matplotlib's font cache into /tmp/mpl (it starts
    quickly); what does not fit in the size-limited tmpfs is skipped."""
    os.makedirs("/tmp/mpl", exist_ok=True)
    files = job["files"] or {"dirs": [], "links": [], "files": []}
    for rel in files["dirs"]:
        os.makedirs(os.path.join("/submission", rel), exist_ok=True)
    for rel, target in files["links"]:
        os.symlink(target, os.path.join("/submission", rel))
    for path, name in [("/submission/" + r, n) for r, n in files["files"]] + \
                      [("/tmp/mpl/" + f, n) for f, n in job["mpl"]]:
        try:
            with open(path, "wb") as fh:
                fh.write(blobs[name])
        except OSError:  # no space left
            pass


def confine(lim):
    import resource
    for res, val in ((resource.RLIMIT_AS, lim["memory"]), (resource.RLIMIT_NPROC, lim["nproc"]),
                     (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_NOFILE, lim["nofile"]),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, lim["cpu"])):
        resource.setrlimit(res, (val, val))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class ReferenceBlocker:
    """Meta-path finder refusing the reference implementations (their files are absent too)."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            if name not in self.attempts:
                self.attempts.append(name)
            raise ImportError(f"import of {name} is not allowed in this exercise "
                              "(write it with NumPy)", name=name)
        return None


class _Anything:
    """Accepts every call and attribute and does nothing (``get_ipython().system(...)``)."""

    def __getattr__(self, name):
        return self

    def __call__(self, *a, **k):
        return self

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False


class _Shell(_Anything):
    """`get_ipython()` here: the magics that run code or write a file work, the rest do nothing."""

    def __init__(self, ns):
        self.__dict__.update(_ns=ns, user_ns=ns)

    def run_line_magic(self, name, line, *a, **k):
        if name == "time":
            exec(compile(line, "<%time>", "exec"), self._ns)
        elif name == "timeit":  # once, and its names do not stay (as in IPython)
            words = line.split()
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-n", "-r", "-p") else words[1:]
            exec(compile(" ".join(words) or "pass", "<%timeit>", "exec"), dict(self._ns))

    def run_cell_magic(self, name, line, cell, *a, **k):
        if name in ("time", "capture"):
            exec(compile(cell, f"<%%{name}>", "exec"), self._ns)
        elif name == "timeit":
            exec(compile(cell, "<%%timeit>", "exec"), dict(self._ns))
        elif name in ("writefile", "file"):
            args = line.split()
            paths = [x for x in args if not x.startswith("-")]
            if paths:
                with open(paths[0].strip("'\""), "a" if {"-a", "--append"} & set(args) else "w") as fh:
                    fh.write(cell)


def student_namespace():
    """A fresh `__main__` module for the cells (functions defined there pickle as in a kernel)."""
    import types
    main = types.ModuleType("__main__")
    shell = _Shell(main.__dict__)
    main.__dict__.update({"display": lambda *a, **k: None, "get_ipython": lambda: shell})
    sys.modules["__main__"] = main
    sys.argv = [""]
    return main.__dict__


def describe(exc):
    try:
        msg = str(exc)
    except BaseException:
        msg = "<unprintable>"
    return f"{type(exc).__name__}: {msg}"[:500]


# ------------------------------------------------------------------------------ processes
def _fork():
    """os.fork, waiting out a full process table (a fork bomb's leftovers), then clearing it."""
    for attempt in range(60):
        try:
            return os.fork()
        except BlockingIOError:
            if attempt in (10, 30):
                kill_stragglers()
            time.sleep(0.05)
    return os.fork()


def kill_stragglers():
    """SIGKILL every process of the jail but this one and pid 1 (daemons, fork bombs)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass


def jail_cpu():
    """CPU seconds used so far by the jail's processes but this one and pid 1 (None: no /proc)."""
    total, me = 0, os.getpid()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if pid in (1, me):
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def wait_child(pid, r, wall, idle, token):
    """Wait for a forked child: `token` read on pipe `r` means it finished.

    It fails when it dies without a word, after `wall` seconds, or after `idle` seconds in
    which the jail used no CPU. Then its process group is killed. Returns a dict with ``ok``,
    ``why`` ("wall", "idle" or None), ``status`` (wait status) and ``cpu`` (seconds, once reaped).
    """
    import select
    start = last_progress = time.monotonic()
    cpu_seen, out = jail_cpu(), {"ok": False, "why": None, "status": None, "cpu": None}
    got = b""
    while True:
        now = time.monotonic()
        if now - start > wall or (cpu_seen is not None and now - last_progress > idle):
            out["why"] = "wall" if now - start > wall else "idle"
            break
        try:
            ready = select.select([r], [], [], 0.05)[0]
        except InterruptedError:
            continue
        if ready:  # the token (a cell may write more into its copy of the pipe: ignored)
            data = os.read(r, 4096)
            got = (got + data)[-4096:]
            if token in got or not data:
                out["ok"] = token in got
                break
            continue
        out["status"], out["cpu"] = reap(pid, os.WNOHANG)
        if out["status"] is not None:  # died without a word (or just after writing it)
            out["ok"] = token in got + (os.read(r, 4096) if select.select([r], [], [], 0)[0] else b"")
            break
        cpu = jail_cpu() if cpu_seen is not None else None
        if cpu is not None and cpu > cpu_seen:
            last_progress = time.monotonic()
        cpu_seen = cpu if cpu is not None else cpu_seen
    os.close(r)
    if not out["ok"] and out["status"] is None:
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        out["status"], out["cpu"] = reap(pid, 0)
    return out


def reap(pid, flags):
    """(wait status, CPU seconds) of the child `pid` once it has ended, else (None, None)."""
    try:
        got, status, ru = os.wait4(pid, flags)
    except ChildProcessError:
        return -1, None
    return (None, None) if got == 0 else (status, ru.ru_utime + ru.ru_stime)


def own_cpu():
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def limit_cpu(seconds, hard=False):
    """This process may use `seconds` more CPU seconds (SIGXCPU; SIGKILL 1 s later if `hard`)."""
    import math
    import resource
    _, cur = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(math.ceil(own_cpu() + max(seconds, 0.0))) or 1
    soft = soft if cur == resource.RLIM_INFINITY else min(soft, cur)
    new_hard = (soft + 1 if cur == resource.RLIM_INFINITY else min(soft + 1, cur)) if hard else cur
    resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))


def signal_of(status):
    if status is None or status < 0:
        return None
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def over_time(w, budget):
    """Did the child run out of time (CPU limit, wall backstop)? Idleness is told apart."""
    return (w["why"] == "wall" or signal_of(w["status"]) == signal.SIGXCPU
            or (not w["ok"] and w["cpu"] is not None and w["cpu"] >= budget - 0.05))


# ------------------------------------------------------------------------------ cells and checks
def run_cells(job, ns):
    """Each cell in a fork that becomes the next holder; CPU limits, idle and wall backstops."""
    report, cpu_left = [], job["cells_timeout"]
    wall_end = time.monotonic() + job["wall_factor"] * cpu_left + job["wall_slack"]
    for i, src in enumerate(job["cells"]):
        budget = min(job["cell_timeout"], cpu_left)
        wall = min(job["wall_factor"] * budget + job["wall_slack"], wall_end - time.monotonic())
        if budget <= 0 or wall <= 0:
            report.append({"status": "skipped"})
            continue
        r, w = os.pipe()
        token = os.urandom(8).hex().encode()
        pid = _fork()
        if pid == 0:
            os.close(r)
            os.setpgid(0, 0)
            limit_cpu(budget)
            try:
                exec(compile(src, f"<cell {i + 1}>", "exec"), ns)
                result = {"status": "ok"}
            except BaseException as exc:  # a broken cell must not stop the later ones
                result = {"status": "error", "error": describe(exc)}
            used = own_cpu()
            result["cpu"] = round(used, 3)
            report.append(result)
            cpu_left -= used
            try:
                os.write(w, token)
                os.close(w)
            except OSError:  # the cell closed or broke its pipe: it ends here
                os._exit(0)
            continue  # this process now holds the state; its parent exits
        os.close(w)
        res = wait_child(pid, r, wall, job["idle"], token)
        if res["ok"]:
            os._exit(0)
        kill_stragglers()  # whatever the stopped cell started
        cpu_left -= res["cpu"] if res["cpu"] is not None else budget
        status = ("timeout" if over_time(res, budget) else "idle" if res["why"] == "idle"
                  else "crashed")
        report.append({"status": status, "signal": signal_of(res["status"]), "cpu": res["cpu"]})
    return report


def run_one_check(job, c, index, ns, cases, blocker):
    prefix = f"c{index}"
    send(f"start.{prefix}", b"")  # results planted earlier (by a cell) are forgotten
    r, w = os.pipe()
    token = os.urandom(8).hex().encode()
    t0 = time.monotonic()
    pid = _fork()
    if pid == 0:
        os.close(r)
        try:
            os.setpgid(0, 0)
            limit_cpu(c["timeout"], hard=True)
            check_worker(c, prefix, ns, cases, blocker)
            os.write(w, token)
        finally:
            os._exit(0)
    os.close(w)
    res = wait_child(pid, r, job["wall_factor"] * c["timeout"] + job["wall_slack"], job["idle"], token)
    if res["ok"] and res["status"] is None:
        res["status"], res["cpu"] = reap(pid, 0)
    if not res["ok"]:
        kill_stragglers()  # what the stuck or crashed function started, daemons included
    send_json(f"{prefix}_status", {
        "finished": res["ok"], "timeout": not res["ok"] and over_time(res, c["timeout"]),
        "idle": not res["ok"] and res["why"] == "idle", "signal": signal_of(res["status"]),
        "cpu": res["cpu"], "seconds": round(time.monotonic() - t0, 3)})


def check_worker(c, prefix, ns, cases, blocker):
    if c["target"] not in ns:
        send_json(f"{prefix}_missing", {})
        return
    fn = ns[c["target"]]
    for k, (args, kwargs) in enumerate(cases):
        before, blobs = len(blocker.attempts), {}
        try:
            got = fn if c["kind"] == "value" else fn(*args, **kwargs)
            res = {"status": "ok"}
        except MemoryError:
            res = {"status": "memory"}
        except BaseException as exc:
            res = {"status": "raised", "error": describe(exc)}
        try:
            if res["status"] == "ok":
                res["value"] = exchange.encode_result(got, f"{prefix}_{k}", blobs)
                if c["kind"] != "value":  # the inputs after the call: did it write into them?
                    res["inputs_after"] = exchange.encode_result([list(args), kwargs],
                                                                 f"{prefix}_{k}_in", blobs)
        except BaseException as exc:
            res, blobs = {"status": "unsendable", "error": describe(exc)}, {}
        got = None
        res["blocked"] = blocker.attempts[before:before + 5]
        for name, data in blobs.items():
            send(name, data)
        send_json(f"{prefix}_{k}", res)


if __name__ == "__main__":
    main()
