"""Run a student's code in a confined child process and grade it in the trusted parent.

``run_checks(cells, workdir, checks, seed)`` is the only entry point the grader needs:

* the parent (this process) draws every case with ``check.make_cases(default_rng(seed))``,
  keeps the expected values, and sends only the arguments to the child, as JSON plus ``.npy``
  files (arrays keep dtype, shape and strides);
* the child (`grading/sandbox_child.py`, started as root with ``python -I``) enters new
  mount/pid/network/ipc/uts namespaces, builds a new root that shows only the system, the
  Python installation and a private copy of the submission folder (``/submission``), drops to
  an unprivileged per-run uid with resource limits, runs the cells (IPython syntax already
  turned into Python here), then calls each target in its own forked process;
* the child sends back plain values only (JSON, ``.npy`` loaded with ``allow_pickle=False``,
  size-limited); ``case.check(got)`` decides here. A verdict passes only if every case passes
  and the function left its array inputs unchanged.

One looping or crashing function costs only its own check; a looping or crashing cell is
killed and skipped (the later cells still run, from the state before it).

Time limits count CPU seconds (``RLIMIT_CPU`` per cell and per check worker; SIGXCPU or a
CPU use at the limit is a "timeout"), so a correct submission passes on a loaded machine
where it gets a fraction of a core. The wall clock is only a backstop, at ``WALL_FACTOR``
times the limit plus ``WALL_SLACK`` seconds, for code that sleeps or blocks; `max_seconds`
is the most a run can take. The supervisor dies with the process that called `run_checks`
(parent-death signal), so a grading worker killed for its own deadline leaves nothing running.

What confines what
------------------
* pid namespace: the child's processes see only each other; killing its pid 1 (or the
  supervisor dying: parent-death signal) kills every process the student started, daemons
  and fork bombs included.
* network namespace: no interface but a down loopback; abstract unix sockets are per namespace.
* mount namespace + chroot: ``/usr``, a dozen files of ``/etc`` (linker cache, time zone,
  passwd...), the Python prefix and venv (read-only, no setuid; their ``etc/jupyter`` config
  folders hidden), four device nodes, private ``/tmp`` and ``/dev/shm`` (tmpfs) and
  ``/submission`` (a tmpfs copy of the submission folder, symlinks copied as links, never
  followed). The Python folders (and cnnlib, where allowed) are bound per group after the
  private ``/tmp``, at their real paths and at the (symlinked) paths the interpreter uses,
  so a clone or venv anywhere (``/tmp/...`` in CI, ``/root``, ``/home``) works; of a course
  root holding the venv only the venv shows. The course root, the
  gradebook, ``solutions/``, other students' folders, ``/proc``, ``/sys`` and ``/home`` do not
  exist there. ``cnnlib``'s folder is bound only for checks with ``allow_cnnlib``; otherwise
  it is absent, ``scipy.signal``/``scipy.ndimage`` are replaced by empty read-only folders,
  and a meta-path finder refuses them (flag "import of reference blocked: ...").
* credentials: a uid/gid of its own per run and group (``UID_BASE`` + ...), no supplementary
  groups, no capabilities, ``PR_SET_NO_NEW_PRIVS``; rlimits for address space, CPU seconds,
  processes (per uid, so a fork bomb stops at ``LIMITS["nproc"]``), file size, open files,
  no core dumps.
* the parent never unpickles: JSON with a node/depth/length budget and ``.npy`` files parsed
  by hand (numeric dtypes only, header must match the data size, 64 MiB per array).
* output: fds 1/2 go to /dev/null, ``sys.stdout``/``sys.stderr`` keep the first 64 KiB in a
  log that only a person debugging sees (``GRADING_SANDBOX_KEEP=1`` keeps the job folder).

Not protected
-------------
Kernel exploits (no seccomp filter, no user namespace); CPU and memory shared with the
machine: memory is limited per process (RLIMIT_AS), so the worst case is ``nproc x memory``
(16 GiB by default) until the time limit, not a cgroup total; timing side channels; a
student who writes a correct implementation under another name. Hidden inputs are visible
to the student's code while it runs (they are arguments), never the expected values. The
seed must be unpredictable (the grader draws it per notebook): with a known seed a student
could pre-compute answers at home with the public cnnlib.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grading import sandbox_child as _child
from grading.sandbox_child import DecodeError, UnsupportedValue, decode, encode_args

__all__ = ["Verdict", "run_checks", "max_seconds", "require_sandbox", "SandboxUnavailable", "SandboxError",
           "UnsupportedValue", "LIMITS"]

#: Resource limits of every process running student code (per process unless noted).
LIMITS = {
    "memory": 1 << 30,        # RLIMIT_AS, bytes of address space
    "nproc": 16,              # RLIMIT_NPROC, processes+threads of the sandbox's own uid
    "fsize": 64 << 20,        # RLIMIT_FSIZE, largest file written
    "nofile": 256,            # RLIMIT_NOFILE
    "disk": 128 << 20,        # size of the tmpfs holding the submission copy
    "log": 64 << 10,          # bytes of the student's printed output kept in the log
}
#: Time limits are CPU seconds (a check's `timeout`, `cell_timeout`, `cells_timeout`); the wall
#: clock only backs them up, at WALL_FACTOR x the CPU limit + WALL_SLACK seconds, so that a
#: correct submission passes on a loaded machine and a sleeping one still stops.
WALL_FACTOR = 5.0
WALL_SLACK = 10.0
UID_BASE = 100_000_000       # per-run uids: UID_BASE + 8 * parent pid + slot; no real user has these
_CHILD = Path(_child.__file__).resolve()
#: Command prefix for the child (tests use it to start the child without CAP_SYS_ADMIN).
LAUNCHER: list[str] = []
_slots = itertools.count()
_slots_lock = threading.Lock()


@dataclass(frozen=True)
class Verdict:
    """The sandbox's decision on one check (one autograded test cell).

    passed:  every case passed
    message: learner-facing: what failed and why (no hidden inputs, no test source)
    flags:   short notes for a person, e.g. "timeout", "crashed", "memory",
             "missing function conv2d", "import of reference blocked: scipy.signal"
    """

    passed: bool
    message: str
    flags: list[str] = field(default_factory=list)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up on this machine (not root, no namespaces, ...)."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the student's code): grade this submission by hand."""


def require_sandbox() -> None:
    """Raise SandboxUnavailable naming what is missing if confinement is impossible here."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"the grading sandbox needs Linux namespaces; this is {sys.platform}")
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the grading sandbox must run as root (it creates mount/pid/network namespaces and "
            f"switches student code to an unprivileged uid); running as uid {os.geteuid()}. "
            "Run the grader with sudo, or in CI as root. Student code is never run unconfined.")
    for ns in ("mnt", "pid", "net"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            raise SandboxUnavailable(f"this kernel has no {ns} namespaces (/proc/self/ns/{ns})")


def transform_cells(cells: list[str]) -> list[str]:
    """IPython syntax (``%magic``, ``!cmd``, ``x?``) -> plain Python, here in the trusted process.

    Transformers a student registers in their kernel have no effect: a fresh
    TransformerManager is used, and the child has no IPython at all.
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with nbgrader
        return [_strip_magics(c) for c in cells]
    tm = TransformerManager()
    out = []
    for src in cells:
        try:
            out.append(tm.transform_cell(src))
        except Exception:
            out.append(_strip_magics(src))
    return out


def _strip_magics(src: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())


#: host folders shown at the same path by the sandbox's system binds (besides the Python binds)
_SYSTEM_DIRS = ("/usr",)


def _python_binds() -> list[list[str]]:
    """[source, place] pairs showing the Python installation(s) inside the sandbox.

    Every prefix (venv and base installation) is shown at its real path and also at the path
    the interpreter knows it by when a symlink leads there (sys.prefix is not resolved), so
    the child's ``sys.path`` works unchanged wherever the clone lives (/tmp, /root, /home,
    through symlinks). A place nested in another place showing the same files is dropped.
    """
    pairs: dict[str, str] = {}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        real = os.path.realpath(p)
        for place in (real, os.path.abspath(p)):
            pairs.setdefault(place, real)
    return _drop_nested(pairs)


def _drop_nested(pairs: dict) -> list[list[str]]:
    out = []
    for place, src in sorted(pairs.items()):
        covered = any(place != o and place.startswith(o + os.sep) and os.path.realpath(
            os.path.join(pairs[o], os.path.relpath(place, o))) == src for o in pairs)
        if not covered:
            out.append([src, place])
    return out


def _places(path: str, binds) -> list[str]:
    """Where the host folder `path` (a real path) appears inside the sandbox."""
    found = [place + path[len(src):] for src, place in
             [*binds, *[[d, d] for d in _SYSTEM_DIRS]]
             if path == src or path.startswith(src + os.sep)]
    return sorted(set(found))


@functools.lru_cache(maxsize=4)
def _isolated_cnnlib_dirs(executable: str) -> tuple[str, ...]:
    """Where ``python -I`` (as the child starts) finds cnnlib: an editable install's mapping."""
    code = ("import importlib.util as u, json; s = u.find_spec('cnnlib'); "
            "print(json.dumps(list(s.submodule_search_locations or []) if s else []))")
    try:
        out = subprocess.run([executable, "-I", "-c", code], capture_output=True, text=True,
                             timeout=60, env=dict(_ENV), stdin=subprocess.DEVNULL)
        return tuple(str(d) for d in json.loads(out.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return ()


def _reference_dirs(binds):
    """cnnlib's [source, place] binds (made only for checks that allow it) and the places to hide.

    cnnlib is looked up both here and as the isolated child will (they differ when this
    process imports it from the current folder); an installed (non-editable) cnnlib lies in
    site-packages and is hidden instead, like scipy.signal and scipy.ndimage.
    """
    import importlib.util
    hide, cnnlib = [], {}
    spec = importlib.util.find_spec("cnnlib")
    found = list(spec.submodule_search_locations or []) if spec is not None else []
    for d in [*found[:1], *_isolated_cnnlib_dirs(sys.executable)[:1]]:
        real = os.path.realpath(d)
        if _places(real, binds):
            hide += _places(real, binds)  # installed into site-packages: hide it where not allowed
        else:
            for place in (real, os.path.abspath(d)):
                cnnlib.setdefault(place, real)
    spec = importlib.util.find_spec("scipy")
    if spec is not None and spec.submodule_search_locations:
        base = os.path.realpath(list(spec.submodule_search_locations)[0])
        for s in ("signal", "ndimage"):
            if os.path.isdir(os.path.join(base, s)):
                hide += _places(os.path.join(base, s), binds)
    return _drop_nested(cnnlib), sorted(set(hide))


def _config_dirs(binds) -> list[str]:
    """Places of the Jupyter/nbgrader config folders inside the visible Python trees (db_url...)."""
    found = []
    for base in [*(src for src, _ in binds), "/usr", "/usr/local"]:
        for sub in ("etc/jupyter", "etc/nbgrader"):
            d = os.path.realpath(os.path.join(base, sub))
            if os.path.isdir(d):
                found += [p for p in _places(d, binds) if p not in found]
    return found


def _mpl_cache_files() -> list[str]:
    d = os.environ.get("MPLCONFIGDIR") or os.path.join(os.path.expanduser("~"), ".cache", "matplotlib")
    try:
        return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("fontlist") and f.endswith(".json")]
    except OSError:
        return []


def _array_positions(cases):
    """Positions of ndarray args and names of ndarray kwargs (checked for in-place changes)."""
    pos, names = set(), set()
    for case in cases:
        pos.update(i for i, a in enumerate(case.args) if isinstance(a, np.ndarray))
        names.update(k for k, v in case.kwargs.items() if isinstance(v, np.ndarray))
    return sorted(pos), sorted(names)


def _draw_groups(checks, seed, indir, uid0):
    """Draw every check's cases here; split the checks by `allow_cnnlib` (one child group each).

    Returns the groups as sent to the child (arguments only, arrays written to `indir`) and
    grade_id -> cases (with the expected values, which never leave this process).
    """
    all_cases, groups = {}, []
    files: list[str] = []  # names of the input arrays, unique over the whole run
    for allow in (False, True):
        members = [c for c in checks if bool(c.allow_cnnlib) == allow]
        if not members:
            continue
        g = {"name": f"g{len(groups)}", "uid": uid0 + len(groups), "allow_cnnlib": allow,
             "checks": []}
        for c in members:
            cases = list(c.make_cases(np.random.default_rng(seed)))
            all_cases[c.grade_id] = cases
            pos, names = _array_positions(cases)
            g["checks"].append({
                "key": c.grade_id, "target": c.target, "kind": c.kind,
                "timeout": float(c.timeout), "array_args": pos, "array_kwargs": names,
                "cases": [[encode_args(tuple(k.args), indir, files),
                           encode_args(dict(k.kwargs), indir, files)] for k in cases]})
        groups.append(g)
    return groups, all_cases


def run_checks(cells: list[str], workdir: Path, checks: list, seed: int, *,
               cell_timeout: float = 60.0, cells_timeout: float = 180.0,
               limits: dict | None = None) -> dict[str, Verdict]:
    """Run the student's `cells` confined, call each check's target there, judge here.

    Parameters
    ----------
    cells : list of str
        Sources of the student's code cells in notebook order (test cells excluded).
    workdir : Path
        The submission's folder; the child sees a private copy of it as its working folder.
    checks : list of grading.checks.Check
    seed : int
        Every check draws its cases from a fresh ``np.random.default_rng(seed)``.
    cell_timeout, cells_timeout : float
        CPU seconds for one cell, and for all cells together (a cell over time is killed and
        skipped). A check's ``timeout`` is CPU seconds too. The wall clock stops work only at
        ``WALL_FACTOR`` times these plus ``WALL_SLACK`` (sleeping or blocked code).
    limits : dict, optional
        Overrides of :data:`LIMITS`.

    Returns
    -------
    dict
        grade_id -> Verdict, one for every check.

    Raises
    ------
    SandboxUnavailable
        Confinement is impossible here (not root, no namespaces): nothing was run.
    SandboxError
        The sandbox itself failed; the submission needs a person.
    """
    require_sandbox()
    lim = dict(LIMITS, **(limits or {}))
    workdir = Path(workdir).resolve() if workdir is not None else None
    if workdir is not None and not workdir.is_dir():
        raise SandboxError(f"run_checks: workdir {workdir} is not a folder")
    binds = _python_binds()
    if workdir is not None and any(str(workdir).startswith(d + os.sep) or str(workdir) == d
                                   for b in binds for d in b):
        raise SandboxUnavailable(f"the submission folder {workdir} lies inside the Python "
                                 "installation, which the sandbox shows to student code")
    cnnlib_binds, hide_dirs = _reference_dirs(binds)
    with _slots_lock:
        slot = next(_slots) % 4
    uid0 = UID_BASE + 8 * os.getpid() + 2 * slot

    jobdir = tempfile.mkdtemp(prefix="grading-sandbox-")
    try:
        os.mkdir(os.path.join(jobdir, "in"))
        groups, all_cases = _draw_groups(checks, seed, os.path.join(jobdir, "in"), uid0)
        if not groups:
            return {}
        code_cells = transform_cells(list(cells))
        deadline = max_seconds([c for g in groups for c in g["checks"]], len(code_cells),
                               cell_timeout, cells_timeout, groups) - 10.0
        job = {
            "cells": code_cells, "groups": groups, "workdir": str(workdir) if workdir else None,
            "python_binds": binds, "cnnlib_binds": cnnlib_binds, "hide_dirs": hide_dirs,
            "always_hidden": _config_dirs(binds),
            "mpl_cache_files": _mpl_cache_files(), "cell_timeout": float(cell_timeout),
            "cells_total_timeout": float(cells_timeout), "deadline": deadline,
            "wall_factor": WALL_FACTOR, "wall_slack": WALL_SLACK, "parent_pid": os.getpid(),
            "log_cap": lim["log"], "disk_limit": lim["disk"],
            "limits": {"memory": lim["memory"], "nproc": lim["nproc"], "fsize": lim["fsize"],
                       "nofile": lim["nofile"], "cpu": int(deadline) + 5},
        }
        with open(os.path.join(jobdir, "job.json"), "w") as fh:
            json.dump(job, fh)
        _run_child(jobdir, deadline + 10.0)
        return _verdicts(jobdir, groups, checks, all_cases, lim)
    finally:
        if not os.environ.get("GRADING_SANDBOX_KEEP"):
            shutil.rmtree(jobdir, ignore_errors=True)


def max_seconds(checks, n_cells: int, cell_timeout: float = 60.0, cells_timeout: float = 180.0,
                _groups=None) -> float:
    """Wall-clock seconds `run_checks` can take at most (sleeping code everywhere), setup included.

    A caller with its own deadline for a whole grading job must allow at least this much,
    or a slow but correct submission on a loaded machine is cut off before the sandbox is.
    """
    def wall(cpu):
        return WALL_FACTOR * float(cpu) + WALL_SLACK

    def timeout(c):
        return c["timeout"] if isinstance(c, dict) else c.timeout

    if _groups is None:  # Check objects: one group per `allow_cnnlib`
        _groups = [{"checks": [c for c in checks if bool(c.allow_cnnlib) == allow]}
                   for allow in (False, True)]
    cells = min(wall(cells_timeout), wall(cell_timeout) * max(1, n_cells)) + 1.0
    per_group = [sum(wall(timeout(c)) + 0.5 for c in g["checks"]) for g in _groups if g["checks"]]
    return 10.0 + cells + max(per_group, default=0.0) + 10.0


_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}


def _run_child(jobdir: str, timeout: float) -> None:
    proc = subprocess.Popen([*LAUNCHER, sys.executable, "-I", "-B", str(_CHILD), jobdir], env=dict(_ENV),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        raise SandboxError(f"the sandbox supervisor did not finish within {timeout:.0f} s")
    text = err.decode("utf-8", "replace")[-4000:]
    if "SANDBOX-SETUP-ERROR:" in text:
        raise SandboxUnavailable(text.split("SANDBOX-SETUP-ERROR:", 1)[1].strip())
    if proc.returncode != 0:
        raise SandboxError(f"the sandbox supervisor failed (exit {proc.returncode}): {text.strip()}")


# ------------------------------------------------------------------------------- verdicts
def _read_json(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(_child.MAX_JSON_BYTES + 1)
    if len(data) > _child.MAX_JSON_BYTES:
        return None
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _signal_name(sig) -> str:
    try:
        return signal.Signals(int(sig)).name
    except (TypeError, ValueError):
        return "an unknown signal"


def _verdicts(jobdir, groups, checks, all_cases, lim) -> dict[str, Verdict]:
    res = Path(jobdir) / "results"
    summary = _read_json(res / "summary.json")
    if summary is None:
        raise SandboxError("the sandbox supervisor wrote no summary")
    by_id = {c.grade_id: c for c in checks}
    out = {}
    for g in groups:
        gdir = res / g["name"]
        setup = _read_json(res / f"setup-{g['name']}.json")  # written by the child's pid 1 (root)
        if setup is None and not summary.get("timed_out"):
            raise SandboxError("the sandbox did not report its setup")
        if setup is not None and not setup.get("started"):
            raise SandboxError(f"sandbox setup failed: {str(setup.get('error'))[:500]}")
        done = _read_json(gdir / "done.json") or {}
        cell_notes = _cell_notes(done.get("cells"))
        if done.get("holder_error"):
            err = str(done["holder_error"])
            if err.startswith("MemoryError") or "Cannot allocate memory" in err:
                cell_notes.append("memory")  # the cells left no room for the checks
            cell_notes.append("the notebook's code broke the sandbox process: " + err[:200])
        blocked_cells = [str(b)[:60] for b in (done.get("blocked") or [])][:5]
        for i, c in enumerate(g["checks"]):
            check = by_id[c["key"]]
            v = _judge(check, c, all_cases[c["key"]], gdir, f"c{i}", summary, lim,
                       done.get("cells"))
            flags = list(v.flags)
            # imports tried inside the function always count; those of the cells only explain a
            # failure (a training cell may import cnnlib for another, allowed, check)
            blocked = set(v.flags_blocked) | (set() if v.passed else set(blocked_cells))
            if blocked:
                flags.append("import of reference blocked: " + ", ".join(sorted(blocked)))
            if not v.passed:
                flags += cell_notes
            out[check.grade_id] = Verdict(v.passed, v.message, flags)
    return out


def _cell_notes(cells) -> list[str]:
    notes = []
    for i, c in enumerate(cells if isinstance(cells, list) else []):
        st = c.get("status") if isinstance(c, dict) else None
        if st == "timeout":
            notes.append(f"cell {i + 1} timed out")
        elif st == "crashed":
            notes.append(f"cell {i + 1} crashed")
        elif st == "skipped":
            notes.append(f"cell {i + 1} skipped (time for the cells used up)")
    return notes


@dataclass
class _Partial:
    passed: bool
    message: str
    flags: list
    flags_blocked: list


def _judge(check, c, cases, gdir: Path, prefix: str, summary, lim, cells) -> _Partial:
    target = check.target
    what = "variable" if check.kind == "value" else "function"
    if (gdir / f"{prefix}_missing.json").exists():
        errors = [f"cell {i + 1}: {str(x.get('error'))[:200]}"
                  for i, x in enumerate(cells if isinstance(cells, list) else [])
                  if isinstance(x, dict) and x.get("status") == "error"][:3]
        hint = ("\nCells that raised an error:\n" + "\n".join(errors)) if errors else ""
        return _Partial(False, f"`{target}` is not defined in the notebook: did you rename the "
                        f"{what}, delete its cell, or does its cell raise an error?{hint}",
                        [f"missing {what} {target}"], [])
    status = _read_json(gdir / f"{prefix}_status.json")
    params = tuple(getattr(check, "params", ()) or ())
    failures, flags, blocked = [], [], []
    for k, case in enumerate(cases):
        r = _read_json(gdir / f"{prefix}_{k}.json")
        if r is None:
            failures.append(_stopped(check, case, status, summary, flags))
            break
        blocked += [str(b)[:60] for b in (r.get("blocked") or [])][:5]
        st = r.get("status")
        if st == "memory":
            flags.append("memory")
            failures.append(f"- {case.label}: `{target}` ran out of memory (limit "
                            f"{lim['memory'] >> 20} MiB)")
            continue
        if st == "raised":
            err = str(r.get("error", ""))[:300]
            if err.startswith("MemoryError"):
                flags.append("memory")
            failures.append(f"- {case.label}: `{target}` raised {err}")
            continue
        if st == "unsendable":
            flags.append("result too large")
            failures.append(f"- {case.label}: `{target}` returned a value too large or too "
                            "deeply nested to be checked")
            continue
        if st != "ok":
            flags.append("malformed result")
            failures.append(f"- {case.label}: the result of `{target}` could not be read")
            continue
        try:
            got = decode(r.get("value"), str(gdir))
        except (DecodeError, OSError, RecursionError) as exc:
            flags.append("malformed result")
            failures.append(f"- {case.label}: `{target}` returned a value that cannot be "
                            f"graded ({exc})")
            continue
        msg = _apply_check(case, got, flags)
        if msg is None and check.kind != "value":
            msg = _inputs_changed(case, r.get("inputs_after"), str(gdir), params,
                                  c["array_args"], c["array_kwargs"])
        if msg:
            failures.append(f"- {case.label}: {msg}")
    if failures:
        shown = failures[:6] + ([f"- ... and {len(failures) - 6} more"] if len(failures) > 6 else [])
        return _Partial(False, f"{target}: {len(failures)} of {len(cases)} checks failed\n"
                        + "\n".join(shown), sorted(set(flags), key=flags.index), blocked)
    return _Partial(True, f"{target}: all {len(cases)} hidden checks passed", [], blocked)


def _apply_check(case, got, flags):
    try:
        msg = case.check(got)
    except Exception as exc:  # a bug in the check, not the student's fault
        flags.append("check error")
        return f"this case could not be checked ({type(exc).__name__}); ask your instructor"
    if msg is not None and not isinstance(msg, str):
        msg = str(msg)
    return msg or None


def _stopped(check, case, status, summary, flags) -> str:
    target = check.target
    if (status is None and summary.get("timed_out")) or (status or {}).get("timeout"):
        flags.append("timeout")
        return (f"- {case.label}: `{target}` did not finish within {check.timeout:g} s "
                "of computing time for all its checks (an endless loop?)")
    if status is None:
        flags.append("crashed")
        return (f"- {case.label}: `{target}` gave no result (the notebook's code broke the "
                "grader's process?)")
    sig = status.get("signal")
    flags.append("crashed")
    how = f"was killed by {_signal_name(sig)}" if sig else "stopped the Python process"
    return (f"- {case.label}: `{target}` {how} (os._exit, sys.exit in a child, a crash or "
            "a memory blow-up?)")


def _inputs_changed(case, after_spec, gdir, params, array_args, array_kwargs):
    """A function that wrote into one of its array inputs fails (same rule as in process).

    The child sends the args at `array_args` then the kwargs `array_kwargs` (the union over
    the check's cases), after the call.
    """
    slots = [(f"`{params[i]}`" if i < len(params) else f"argument {i + 1}",
              case.args[i] if i < len(case.args) else None) for i in array_args]
    slots += [(f"`{n}`", case.kwargs.get(n)) for n in array_kwargs]
    if not any(isinstance(b, np.ndarray) for _, b in slots):
        return None
    try:
        after = decode(after_spec, gdir)
    except (DecodeError, OSError, RecursionError):
        after = None
    if not isinstance(after, list) or len(after) != len(slots):
        return "the inputs could not be compared after the call"
    for (name, before), got in zip(slots, after):
        if not isinstance(before, np.ndarray):
            continue
        same = (type(got) is np.ndarray and got.shape == before.shape and got.dtype == before.dtype
                and np.array_equal(got, before, equal_nan=before.dtype.kind in "fc"))
        if not same:
            return (f"your function changed its input {name} in place (e.g. `x += ...`, "
                    "`x[...] = ...` or `x.resize`): compute into a new array instead")
    return None
