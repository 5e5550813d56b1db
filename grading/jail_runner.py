"""Inside the jail: run the student's cells, then call each graded function on the given inputs.

`grading.sandbox` starts this file as ``python -I -B /grading/jail_runner.py`` with the job on
stdin (frames: the submission's files and ``job``, then the checks' inputs and ``cases``) and the
grader's result pipe on stdout. Only the standard library, NumPy and `grading.exchange` are
imported before student code runs. Processes (the jail's own pid namespace)::

    pid 1   main(): sets up; then serve(): reads the checks' inputs (the cells never hold them),
    |       hands out each check's when it runs, counting the jail's CPU time then, and reaps;
    |       when it ends, the jail ends, and its count goes to the grader on its own stderr
    `-- holder  runs one cell in a fork that becomes the next holder (a looping or crashing
        |       cell is killed and skipped, the state before it is kept)
        `-- one fork per check: calls the target on every case, sends plain values

Each fork has a CPU-seconds limit (RLIMIT_CPU) and its own pipe; the holder stops it at the
wall-clock backstop, when the jail makes no CPU progress for ``idle`` seconds, or when the
processes it started use its CPU budget together (both read from the jail's own ``/proc``), and passes on only frames that arrived whole and carry the fork's own
names: a check killed mid-write costs only its own results. While student code runs, no process
holds the grader's pipe but the holder between cells: a cell's fork gets it from its parent
(SCM_RIGHTS) only after the cell ends, so frames never reach the grader from two writers; every
process is non-dumpable, so no other can reopen its pipes through ``/proc/<pid>/fd``. The holder
runs the cells' code, so nothing sent from here is trusted.
"""
import contextlib
import json
import math
import os
import resource
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange  # noqa: E402  (the same module the trusted side uses)

del sys.path[0]
OUT = -1          # where frames go: the grader's pipe, in a fork its own pipe
REPORT = -1       # pid 1's own: the grader's stderr, which no other process holds
MARKS = []        # pid 1's: the jail's CPU ticks when each check got its inputs
STOPPED = {}      # pid 1's: why it stopped the jail early ({"files": True})
ASK_AGAIN = 1.0   # seconds: a check asks pid 1 for its inputs again after this long
CPU_SLACK = 1.0   # seconds: a fork's processes together may use its budget plus this


def send(name, data):
    exchange.write_frame(OUT, name, data if isinstance(data, bytes) else json.dumps(data).encode())


def main():
    global OUT, REPORT
    import ctypes  # non-dumpable (inherited by every fork): /proc/<pid>/fd stays closed to others
    if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0):  # PR_SET_DUMPABLE
        sys.exit("jail_runner: prctl(PR_SET_DUMPABLE, 0) failed")
    blobs = read_frames(0, "job")  # the grader's, trusted; not a byte of the checks' inputs
    job = json.loads(blobs.pop("job"))
    alive, OUT, REPORT = os.dup(0), os.dup(1), os.dup(2)  # EOF on `alive`: the grader is gone
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.makedirs("/tmp/mpl", exist_ok=True)  # the submission and matplotlib's font cache
    for rel in job["files"]["dirs"]:
        os.makedirs(os.path.join("/submission", rel), exist_ok=True)
    for rel, target in job["files"]["links"]:
        os.symlink(target, os.path.join("/submission", rel))
    for path, name in [("/submission/" + r, n) for r, n in job["files"]["files"]] + \
                      [("/tmp/mpl/" + f, n) for f, n in job["mpl"]]:
        try:
            with open(path, "wb") as fh:
                fh.write(blobs.pop(name))
        except OSError:  # no space left in the size-limited tmpfs
            pass
    del blobs
    os.chdir("/submission")
    lim = job["limits"]
    for res, val in ((resource.RLIMIT_AS, lim["memory"]), (resource.RLIMIT_NPROC, lim["nproc"]),
                     (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_NOFILE, lim["nofile"]),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, lim["cpu"])):
        resource.setrlimit(res, (val, val))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    blocker = ReferenceBlocker(job["blocked"])
    sys.meta_path[:0] = [] if job["allow_cnnlib"] else [blocker]
    import numpy  # noqa: F401  (first: a numpy.py in /submission does not replace it)
    sys.path.insert(0, "/submission")
    ns = student_namespace()
    ask, asked = (s.detach() for s in socket.socketpair())
    send("started", {})
    os.dup2(devnull, 2)
    if fork() == 0:
        for fd in (alive, REPORT, asked):
            os.close(fd)
        holder(job, ns, ask, blocker)
    os.close(ask)
    serve(alive, asked, len(job["checks"]), lim["files"])


def read_frames(fd, last):
    """Frames from `fd` up to frame `last` (name -> bytes), without reading a byte further."""
    frames = {}
    while last not in frames:
        head = b""
        while not head.endswith(b"\n"):
            head += os.read(fd, 1) or sys.exit(f"jail_runner: {last} did not arrive whole")
        name, size = head.decode().split()
        parts, need = [], int(size)
        while need:
            parts.append(os.read(fd, min(need, 1 << 20)) or sys.exit(f"jail_runner: {name} cut short"))
            need -= len(parts[-1])
        frames[name] = b"".join(parts)
    return frames


def serve(alive, asked, n, files):
    """pid 1 (bwrap --as-pid-1), while the cells run and after: read the checks' inputs; hand
    check i's, once and in order, to the process that asks on `asked`, noting the jail's CPU
    time then (MARKS); reap until no process is left (see `reap`) or the grader is gone (EOF on
    `alive`, whose other end only the grader holds). Ending pid 1 ends the whole jail. More
    than `files` files in the private folders (each costs kernel memory that no size limit
    counts) stop every process."""
    late = read_frames(alive, "cases")
    cases = json.loads(late.pop("cases"))
    signal.signal(signal.SIGCHLD, reap)
    reap()
    watch = [alive, asked]
    while True:  # (the handler runs while this waits)
        ready = select.select(watch, [], [], 0.5)[0]
        if sum(st.f_files - st.f_ffree for st in map(os.statvfs, ("/tmp", "/dev/shm", "/submission"))) > files:
            STOPPED["files"] = True
            kill(-1)
        for fd in ready:
            data = os.read(fd, 64)
            if fd == alive and not data:
                os._exit(0)
            if not data:
                watch.remove(fd)
            requested = (b"\n" + data).endswith(b"\n%d\n" % len(MARKS))  # after what a cell's process wrote
            if requested and len(MARKS) < n and not STOPPED:
                MARKS.append(frozen_cpu())
                with contextlib.suppress(OSError):  # the asker is gone
                    for name in [k for k in late if k.startswith(f"k{len(MARKS) - 1}.")]:
                        exchange.write_frame(asked, name, late.pop(name))
                    exchange.write_frame(asked, "case", json.dumps(cases[len(MARKS) - 1]).encode())


def reap(*_):
    """pid 1's SIGCHLD handler: reap the ended processes; none left, the jail ends, reporting
    on pid 1's own stderr the CPU ticks at each hand-out and at the end."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        with contextlib.suppress(OSError):
            os.write(REPORT, b"\ncpu %s\n" % json.dumps({"marks": MARKS, "end": frozen_cpu(), **STOPPED}).encode())
        os._exit(0)


def holder(job, ns, ask, blocker):
    """Run the cells and the checks (student code from here on), send "done", end the jail."""
    try:
        done = {"cells": run_cells(job, ns, blocker)}
        for i, c in enumerate(job["checks"]):
            run_check(job, c, i, ns, ask, blocker)
    except BaseException as exc:
        done = {"cells": [], "holder_error": describe(exc)}
    try:
        send("done", dict(done, blocked=blocker.attempts[:20]))
    finally:
        kill(-1)
        os._exit(0)


class ReferenceBlocker:
    """Meta-path finder refusing the reference implementations named by the grader (their files
    are absent too). `attempts`: every name refused; `recent`: those since its caller last
    emptied it (a cell's, a case's)."""

    def __init__(self, blocked):
        self.blocked, self.attempts, self.recent = tuple(blocked), [], []

    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in self.blocked):
            self.attempts += [] if name in self.attempts else [name]
            self.recent += [] if name in self.recent else [name]
            raise ImportError(f"import of {name} is not allowed in this exercise "
                              "(write it with NumPy)", name=name)


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
        words = line.split()
        while name == "timeit" and words and words[0].startswith("-"):  # once, no options
            words = words[2:] if words[0] in ("-n", "-r", "-p") else words[1:]
        if name in ("time", "timeit"):
            self.run_cell_magic(name, "", " ".join(words) or "pass")

    def run_cell_magic(self, name, line, cell, *a, **k):
        paths = [x.strip("'\"") for x in line.split() if not x.startswith("-")]
        if name in ("time", "capture", "timeit"):  # %timeit's names do not stay (as in IPython)
            exec(compile(cell, f"<%%{name}>", "exec"), self._ns if name != "timeit" else dict(self._ns))
        elif name in ("writefile", "file") and paths:
            with open(paths[0], "a" if {"-a", "--append"} & set(line.split()) else "w") as fh:
                fh.write(cell)


def student_namespace():
    """A fresh `__main__` module for the cells (functions defined there pickle as in a kernel)."""
    import types
    main = types.ModuleType("__main__")
    shell = _Shell(main.__dict__)
    main.__dict__.update({"display": lambda *a, **k: None, "get_ipython": lambda: shell})
    sys.modules["__main__"], sys.argv = main, [""]
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
                kill(-1)
            time.sleep(0.05)
    return os.fork()


def kill(*targets):
    """SIGKILL each target; -1: every process of the jail but this one and pid 1 (daemons,
    fork bombs)."""
    for target in targets:
        with contextlib.suppress(OSError):
            os.kill(target, signal.SIGKILL)


def proc_stats():
    """(pid, state, CPU ticks with its reaped children's) of each process of the jail (None:
    no /proc)."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            out.append((pid, fields[0], sum(map(int, fields[11:15]))))  # u/s/cu/cs time
        except (OSError, IndexError, ValueError):
            pass
    return out


def jail_cpu():
    """CPU ticks used so far by the jail's processes but this one and pid 1 (None: no /proc)."""
    stats = proc_stats()
    return None if stats is None else sum(t for p, _, t in stats if p not in (1, os.getpid()))


def frozen_cpu():
    """pid 1: the CPU ticks of the whole jail so far (None: no /proc), counted while every other
    process is stopped, so that none can move time past the count (a reaped child's time moves
    to its parent)."""
    try:
        for _ in range(400):
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGSTOP)  # again: a process forked meanwhile
            stats = proc_stats()
            if stats is None or all(st in b"TtZXD" for p, st, _ in stats if p != os.getpid()):
                break
            time.sleep(0.005)
        time.sleep(0.01)  # (the other threads of a process stop with it)
        return None if stats is None else sum(t for _, _, t in proc_stats())
    finally:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGCONT)


def own_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def forked(budget, wall, idle, prefix=None):
    """Fork a child that may use `budget` more CPU seconds (SIGXCPU; SIGKILL 1 s later for a check).

    In the child: returns None; it holds only its own channel (OUT), where its frames go, ``end``
    last. Here: waits until ``end`` arrives, the child dies, `wall` seconds pass, the jail makes
    no CPU progress for `idle` seconds or uses the budget (see "cpu" below). A check's (`prefix`) frames that arrived whole and are
    named ``<prefix>_...`` go on to the grader; any other name stops the check ("died"). A cell
    sends nothing but ``end``, and then gets the grader's pipe over its socket (SCM_RIGHTS).
    Returns (how: "ok", "wall", "idle", "cpu" (the jail's processes but pid 1 and this one used
    `budget` + CPU_SLACK seconds together: a fork bomb) or "died", wait status, CPU seconds); a
    cell's child that sent ``end`` lives on (it holds the state now): (ok, None, None).
    """
    global OUT
    r, w = os.pipe() if prefix else (s.detach() for s in socket.socketpair())
    pid = fork()
    if pid == 0:
        os.close(r)
        os.close(OUT)  # the grader's pipe: the student's code reaches only its own channel
        os.setpgid(0, 0)
        cur = resource.getrlimit(resource.RLIMIT_CPU)[1]
        soft = min(max(math.ceil(own_cpu() + max(budget, 0.0)), 1), cur)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, min(soft + 1, cur) if prefix else cur))
        OUT = w
        return None
    os.close(w)
    reader, how, reaped = exchange.FrameReader(), None, None
    start = last = time.monotonic()
    seen = first = jail_cpu()
    cap = (budget + CPU_SLACK) * os.sysconf("SC_CLK_TCK")  # the jail's ticks from here on
    while how is None:
        if select.select([r], [], [], 0.05)[0]:
            chunk = os.read(r, 1 << 16)
            reader.feed(chunk)
            for name in [n for n in reader.frames if n != "end"]:  # a cell's are dropped
                data = reader.frames.pop(name)
                if prefix and (not name.startswith(prefix + "_") or name == prefix + "_status"):
                    how = "died"  # not the check's own name: the check ends here
                elif prefix and how is None:
                    send(name, data)
            how = how or ("died" if reader.broken or not chunk else "ok" if "end" in reader.frames else None)
            continue
        got, status, ru = os.wait4(pid, os.WNOHANG)
        now, cpu = time.monotonic(), jail_cpu()
        last, seen = (now, cpu) if cpu is None or cpu != seen else (last, seen)
        if got:
            how, reaped = "died", (status, ru)
        elif now - start > wall:
            how = "wall"
        elif now - last > idle:
            how = "idle"
        elif cpu is not None and first is not None and cpu - first > cap:
            how = "cpu"     # processes it started (a fork bomb) used its budget together
    if how == "ok" and not prefix:  # the cell's child takes over as the holder
        with socket.socket(fileno=r) as channel, contextlib.suppress(OSError):
            socket.send_fds(channel, [b"G"], [OUT])
        return how, None, None
    os.close(r)
    if reaped is None:  # a check's fork is ended even when it finished (its leftovers too)
        kill(-pid, pid)
        reaped = os.wait4(pid, 0)[1:]
    return how, reaped[0], reaped[1].ru_utime + reaped[1].ru_stime


def stopped(how, status, cpu, budget):
    """Why a fork ended early: "timeout", "idle" or "crashed", and the signal that killed it;
    whatever it started (daemons, a fork bomb) is killed."""
    kill(-1)
    sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
    late = how in ("wall", "cpu") or sig == signal.SIGXCPU or (cpu is not None and cpu >= budget - 0.05)
    return "timeout" if late else "idle" if how == "idle" else "crashed", sig


# ------------------------------------------------------------------------------ cells and checks
def run_cells(job, ns, blocker):
    """Each cell in a fork that becomes the next holder; CPU limits, idle and wall backstops.
    A cell's report names the imports of the reference it tried ("blocked")."""
    global OUT
    report, cpu_left = [], job["cells_timeout"]
    wall_end = time.monotonic() + job["wall_factor"] * cpu_left + job["wall_slack"]
    for i, src in enumerate(job["cells"]):
        budget = min(job["cell_timeout"], cpu_left)
        wall = min(job["wall_factor"] * budget + job["wall_slack"], wall_end - time.monotonic())
        res = forked(budget, wall, job["idle"]) if budget > 0 and wall > 0 else ("skipped",)
        if res is None:  # the child runs the cell, then holds the state; its parent exits
            blocker.recent = []
            try:
                exec(compile(src, f"<cell {i + 1}>", "exec"), ns)
                result = {"status": "ok"}
            except BaseException as exc:  # a broken cell must not stop the later ones
                result = {"status": "error", "error": describe(exc)}
            used = own_cpu()
            report.append(dict(result, cpu=round(used, 3), blocked=blocker.recent[:5]))
            cpu_left -= used
            try:
                send("end", b"")
                with socket.socket(fileno=OUT) as channel:  # the grader's pipe, from the parent
                    OUT = socket.recv_fds(channel, 1, 1)[1][0]
            except (OSError, IndexError):  # the cell broke its channel: it ends here
                os._exit(0)
        elif res[0] == "ok":
            os._exit(0)
        elif res[0] == "skipped":
            report.append({"status": "skipped"})
        else:
            cpu_left -= res[2]
            status, sig = stopped(*res, budget)
            report.append({"status": status, "signal": sig, "cpu": res[2]})
    return report


def run_check(job, c, i, ns, ask, blocker):
    prefix = f"c{i}"
    request = b"%d\n" % i      # its inputs, from pid 1 (which counts the jail's CPU time now)
    os.write(ask, request)
    while not select.select([ask], [], [], ASK_AGAIN)[0]:  # the request was lost in bytes that a
        os.write(ask, request)                            # cell's process wrote: ask again
    frames = read_frames(ask, "case")
    cases = [[exchange.decode(x, frames, trusted=True) for x in case] for case in json.loads(frames.pop("case"))]
    send(f"start.{prefix}", b"")  # opens the check's section: the grader keeps only its frames
    res = forked(c["timeout"], job["wall_factor"] * c["timeout"] + job["wall_slack"], job["idle"], prefix)
    if res is None:
        absent = [name for name in c.get("names") or [c["target"]] if name not in ns]  # a wrapper's too
        if absent:
            send(f"{prefix}_missing", {"names": absent})
        refuse_helpers(ns, c.get("hide") or [], job.get("helper_mark") or "")
        for k, (args, kwargs) in enumerate(cases if not absent else []):
            send_case(c, f"{prefix}_{k}", ns[c["target"]], args, kwargs, blocker)
        send("end", b"")
        os._exit(0)
    why, sig = stopped(*res, c["timeout"]) if res[0] != "ok" else (None, None)
    send(f"{prefix}_status", {"why": why, "signal": sig})


def refuse_helpers(ns, names, mark):
    """In a check's fork, before its calls: the notebook's helpers `names` (a Check's `hide`:
    the functions of those names whose docstring says `mark`, under any name in `ns`) raise
    NameError from now on, as if not defined (the twin of grading.checks._core.given_helpers
    and refusing_code; the fork ends with the check, so nothing is put back). The grader reads
    the NameError (grading.checks._core.helper_called)."""
    if not names or not mark:
        return
    for obj in list(ns.values()):
        try:   # any object of the notebook's: its attributes may raise
            name = getattr(obj, "__name__", None)
            if (type(name) is str and name in names and name.isidentifier() and hasattr(obj, "__code__")
                    and mark in str(getattr(obj, "__doc__", "") or "")):
                scope = {}
                exec(f"def {name}(*args, **kwargs):\n    raise NameError(\"name '{name}' is not defined\", "
                     f"name='{name}')", scope)
                obj.__code__ = scope[name].__code__
        except Exception:
            pass


def shared_inputs(value, args, kwargs):
    """The twin of grading.checks._core.shared_inputs (no grading.checks in the jail)."""
    import numpy as np
    outs = [value] if isinstance(value, np.ndarray) else [
        v for v in value if isinstance(v, np.ndarray)] if isinstance(value, (tuple, list)) else []
    return [k for k, a in [*enumerate(args), *kwargs.items()]
            if isinstance(a, np.ndarray) and any(np.may_share_memory(a, o) for o in outs)]


def send_case(c, name, fn, args, kwargs, blocker):
    """Call `fn` on one case and send its result: plain values, never the object itself."""
    blocker.recent, blobs = [], {}
    try:
        got = fn if c["kind"] == "value" else fn(*args, **kwargs)
        res = {"status": "ok"}
    except MemoryError:
        res = {"status": "memory"}
    except BaseException as exc:
        res = {"status": "raised", "type": type(exc).__name__, "error": describe(exc)}
    try:
        if res["status"] == "ok":
            res["value"] = exchange.encode(got, blobs, name + "_")
            if c["kind"] != "value":  # the inputs after the call: did it write into them?
                res["inputs_after"] = exchange.encode([list(args), kwargs], blobs, name + "_")
    except BaseException as exc:
        res, blobs = {"status": "unsendable", "error": describe(exc)}, {}
    if res["status"] == "ok" and c.get("fresh"):  # a new array asked: does it share an input's memory?
        with contextlib.suppress(Exception):
            res["shares"] = shared_inputs(got, args, kwargs)
    got = None
    for frame, data in blobs.items():
        send(frame, data)
    send(name, dict(res, blocked=blocker.recent[:5]))


if __name__ == "__main__":
    main()
