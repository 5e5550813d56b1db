"""Inside the jail: run the student's cells, then call each graded function on the given inputs.

`grading.sandbox` starts this file as ``python -I -B /grading/jail_runner.py`` with the job on
stdin (frames: the input arrays, the submission's files, then ``job``) and the grader's result
pipe on stdout. Only the standard library, NumPy and `grading.exchange` are imported here,
before any student code runs. Processes (the jail's own pid namespace)::

    pid 1   this file's main(): sets up, then only reaps; when it ends, the jail ends
    `-- holder  runs one cell in a fork that becomes the next holder (a looping or crashing
        |       cell is killed and skipped, the state before it is kept)
        `-- one fork per check: calls the target on every case, sends plain values

Each fork gets a CPU-seconds limit (RLIMIT_CPU) and its own pipe; the holder stops it when it
ends, at the wall-clock backstop, or when the jail made no CPU progress for ``idle`` seconds
(read from the jail's own ``/proc``), and passes on only the frames that arrived whole: a
check killed mid-write costs only its own results. Nothing sent from here is trusted.
"""
import json
import math
import os
import resource
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange  # noqa: E402  (the same module the trusted side uses)

del sys.path[0]
OUT = -1          # where frames go: the grader's pipe, in a check's fork its own pipe
BLOCKED = ("cnnlib", "scipy.signal", "scipy.ndimage")


def send(name, data):
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    for part in (exchange.frame_header(name, len(data)), memoryview(data)):
        while part:  # a memoryview: no copy of the rest per write (64 KiB per write on a pipe)
            part = part[os.write(OUT, part):]


def main():
    global OUT
    reader = exchange.FrameReader(budget=1 << 40)  # the grader's job: trusted
    while "job" not in reader.frames:
        chunk = os.read(0, 1 << 20)
        if not chunk or reader.broken:
            sys.exit(f"jail_runner: the job did not arrive whole ({reader.broken or 'EOF'})")
        reader.feed(chunk)
    blobs = reader.frames
    job = json.loads(blobs.pop("job"))
    alive, OUT = os.dup(0), os.dup(1)  # EOF on `alive`: the grader is gone
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    cases = {c["key"]: [[exchange.decode(x, blobs, trusted=True) for x in case] for case in c["cases"]]
             for c in job["checks"]}
    unpack(job, blobs)
    del blobs, reader
    os.chdir("/submission")
    lim = job["limits"]
    for res, val in ((resource.RLIMIT_AS, lim["memory"]), (resource.RLIMIT_NPROC, lim["nproc"]),
                     (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_NOFILE, lim["nofile"]),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, lim["cpu"])):
        resource.setrlimit(res, (val, val))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    blocker = ReferenceBlocker()
    if not job["allow_cnnlib"]:
        sys.meta_path.insert(0, blocker)
    sys.path.insert(0, "/submission")
    ns = student_namespace()
    send("started", {})
    os.dup2(devnull, 2)
    if fork() == 0:
        holder(job, ns, cases, blocker)
    # pid 1 (bwrap --as-pid-1): reap until no process is left or the grader is gone (EOF on
    # `alive`, whose other end only the grader holds); ending pid 1 ends the whole jail
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
            os._exit(0)
        os.read(wake, 4096)


def holder(job, ns, cases, blocker):
    """Run the cells and the checks (student code from here on), send "done", end the jail."""
    try:
        done = {"cells": run_cells(job, ns)}
        for i, c in enumerate(job["checks"]):
            run_check(job, c, f"c{i}", ns, cases[c["key"]], blocker)
    except BaseException as exc:
        done = {"cells": [], "holder_error": describe(exc)}
    try:
        send("done", dict(done, blocked=blocker.attempts[:20]))
    finally:
        kill_stragglers()
        os._exit(0)


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


class _Shell:
    """`get_ipython()` here: the magics that run code or write a file work; any other call
    or attribute does nothing (``get_ipython().system(...)``)."""

    def __init__(self, ns):
        self.__dict__.update(_ns=ns, user_ns=ns)

    def __getattr__(self, name):
        return self

    def __call__(self, *a, **k):
        return self

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def run_line_magic(self, name, line, *a, **k):
        if name == "timeit":  # once, without its options
            words = line.split()
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-n", "-r", "-p") else words[1:]
            line = " ".join(words) or "pass"
        if name in ("time", "timeit"):
            self.run_cell_magic(name, "", line)

    def run_cell_magic(self, name, line, cell, *a, **k):
        if name in ("time", "capture", "timeit"):  # %timeit's names do not stay (as in IPython)
            exec(compile(cell, f"<%%{name}>", "exec"), self._ns if name != "timeit" else dict(self._ns))
        elif name in ("writefile", "file") and [x for x in line.split() if not x.startswith("-")]:
            path = [x for x in line.split() if not x.startswith("-")][0].strip("'\"")
            with open(path, "a" if {"-a", "--append"} & set(line.split()) else "w") as fh:
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
def fork():
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
    """CPU ticks used so far by the jail's processes but this one and pid 1 (None: no /proc)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    except OSError:
        return None
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                total += sum(map(int, fh.read().rsplit(b")", 1)[1].split()[11:15]))  # u/s/cu/cs time
        except (OSError, IndexError, ValueError):
            pass
    return total


def own_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def forked(budget, wall, idle, hard=False):
    """Fork a child that may use `budget` more CPU seconds (SIGXCPU; SIGKILL 1 s later if `hard`).

    In the child: returns None; its frames go to its own pipe until it sends ``end``. In this
    process: waits until ``end`` arrives, the child dies, `wall` seconds pass or the jail makes
    no CPU progress for `idle` seconds, and passes every frame that arrived whole to the grader
    (all but ``end``). Returns "ok", "wall", "idle" or "died", the wait status (None while the
    child lives: it holds the state now) and the child's CPU seconds (None unless reaped).
    """
    global OUT
    r, w = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(r)
        os.setpgid(0, 0)
        cur = resource.getrlimit(resource.RLIMIT_CPU)[1]
        soft = min(max(math.ceil(own_cpu() + max(budget, 0.0)), 1), cur)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, min(soft + 1, cur) if hard else cur))
        OUT = w
        return None
    os.close(w)
    reader, why, reaped = exchange.FrameReader(), None, None
    start = last = time.monotonic()
    seen = jail_cpu()
    while why is None:
        if select.select([r], [], [], 0.05)[0]:
            chunk = os.read(r, 1 << 16)
            reader.feed(chunk)
            for name in [n for n in reader.frames if n != "end"]:
                send(name, reader.frames.pop(name))
            why = "ok" if "end" in reader.frames else None if chunk and not reader.broken else "died"
            continue
        got, status, ru = os.wait4(pid, os.WNOHANG)
        if got:  # died without a word
            why, reaped = "died", (status, ru)
        elif time.monotonic() - start > wall:
            why = "wall"
        now = jail_cpu()
        last = time.monotonic() if now is None or now != seen else last
        seen = now
        if why is None and time.monotonic() - last > idle:
            why = "idle"
    os.close(r)
    if why == "ok" and not hard:
        return why, None, None
    if reaped is None:  # a check's fork is ended even when it finished (its leftovers too)
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        reaped = os.wait4(pid, 0)[1:]
    return why, reaped[0], reaped[1].ru_utime + reaped[1].ru_stime


def stopped(why, status, cpu, budget):
    """The reason a fork ended early: "timeout", "idle" or "crashed", and the signal if killed."""
    sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
    late = why == "wall" or sig == signal.SIGXCPU or (cpu is not None and cpu >= budget - 0.05)
    return "timeout" if late else "idle" if why == "idle" else "crashed", sig


# ------------------------------------------------------------------------------ cells and checks
def run_cells(job, ns):
    """Each cell in a fork that becomes the next holder; CPU limits, idle and wall backstops."""
    global OUT
    report, cpu_left, out = [], job["cells_timeout"], OUT
    wall_end = time.monotonic() + job["wall_factor"] * cpu_left + job["wall_slack"]
    for i, src in enumerate(job["cells"]):
        budget = min(job["cell_timeout"], cpu_left)
        wall = min(job["wall_factor"] * budget + job["wall_slack"], wall_end - time.monotonic())
        if budget <= 0 or wall <= 0:
            report.append({"status": "skipped"})
            continue
        res = forked(budget, wall, job["idle"])
        if res is None:
            try:
                exec(compile(src, f"<cell {i + 1}>", "exec"), ns)
                result = {"status": "ok"}
            except BaseException as exc:  # a broken cell must not stop the later ones
                result = {"status": "error", "error": describe(exc)}
            used = own_cpu()
            report.append(dict(result, cpu=round(used, 3)))
            cpu_left -= used
            try:
                send("end", b"")
                os.close(OUT)
            except OSError:  # the cell closed or broke its pipe: it ends here
                os._exit(0)
            OUT = out
            continue  # this process now holds the state; its parent exits
        if res[0] == "ok":
            os._exit(0)
        kill_stragglers()  # whatever the stopped cell started
        cpu_left -= res[2] if res[2] is not None else budget
        status, sig = stopped(*res, budget)
        report.append({"status": status, "signal": sig, "cpu": res[2]})
    return report


def run_check(job, c, prefix, ns, cases, blocker):
    send(f"start.{prefix}", b"")  # results planted earlier (by a cell) are forgotten
    grader = OUT
    res = forked(c["timeout"], job["wall_factor"] * c["timeout"] + job["wall_slack"], job["idle"], True)
    if res is None:
        os.close(grader)  # the student's function reaches only its own pipe
        check_worker(c, prefix, ns, cases, blocker)
        send("end", b"")
        os._exit(0)
    if res[0] != "ok":
        kill_stragglers()  # what the stuck or crashed function started, daemons included
    why, sig = stopped(*res, c["timeout"]) if res[0] != "ok" else (None, None)
    send(f"{prefix}_status", {"why": why, "signal": sig})


def check_worker(c, prefix, ns, cases, blocker):
    if c["target"] not in ns:
        return send(f"{prefix}_missing", {})
    fn = ns[c["target"]]
    for k, (args, kwargs) in enumerate(cases):
        before, blobs = len(blocker.attempts), {}
        try:
            got = fn if c["kind"] == "value" else fn(*args, **kwargs)
            res = {"status": "ok"}
        except MemoryError:
            res = {"status": "memory"}
        except BaseException as exc:
            res = {"status": "raised", "type": type(exc).__name__, "error": describe(exc)}
        try:
            if res["status"] == "ok":
                res["value"] = exchange.encode(got, blobs, f"{prefix}_{k}_")
                if c["kind"] != "value":  # the inputs after the call: did it write into them?
                    res["inputs_after"] = exchange.encode([list(args), kwargs], blobs, f"{prefix}_{k}_")
        except BaseException as exc:
            res, blobs = {"status": "unsendable", "error": describe(exc)}, {}
        got = None
        res["blocked"] = blocker.attempts[before:before + 5]
        for name, data in blobs.items():
            send(name, data)
        send(f"{prefix}_{k}", res)


if __name__ == "__main__":
    main()
