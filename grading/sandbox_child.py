"""Confined child of `grading.sandbox`: runs a student's cells and graded functions.

Started by the trusted parent as ``python -I grading/sandbox_child.py JOBDIR`` (as root).
It imports only the standard library at module level, so the parent can also import it for
the plain-value codec (`encode_args`, `encode_result`, `decode`) shared by both sides.

Process tree (all but S run in fresh pid/net/ipc/uts namespaces)::

    S  supervisor (root, trusted)  unshare, builds the new root, waits, copies results out
    `-- I  pid 1 of the new pid namespace (root, trusted): reaps; its death kills everything
        `-- H  one holder per group of checks (same `allow_cnnlib`): own mount namespace,
            |  chroot into the new root, rlimits, setuid to a per-run uid, runs the cells;
            |  each cell runs in a fork that becomes the next holder (a looping cell is killed
            |  and skipped, the state before it is kept)
            `-- W  one fork per check: calls the target on every case, writes plain values

Nothing the student's code writes is trusted: the parent decodes plain JSON / .npy
(``allow_pickle=False``) with size limits and decides pass/fail itself.
"""
import ctypes
import json
import os
import re
import signal
import stat
import sys
import time
from select import select as _select
from time import monotonic as _monotonic

# ----------------------------------------------------------------------------------------
# Plain-value codec (both sides)
# ----------------------------------------------------------------------------------------
MAX_DEPTH = 20
MAX_NODES = 100_000
MAX_STR = 10_000
MAX_INT_DIGITS = 4_000
MAX_ARRAY_BYTES = 64 << 20          # one returned array
MAX_RESULT_BYTES = 256 << 20        # everything one run sends back
MAX_JSON_BYTES = 8 << 20            # one JSON result file
NUMERIC_KINDS = "biufc"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.npy$")


class UnsupportedValue:
    """Stand-in, built by the parent, for a returned object that is not a plain value.

    For example an ndarray subclass, an object with a custom ``__eq__``, a generator.
    It compares equal to nothing but itself and has no array behaviour.
    """

    __slots__ = ("type_name",)

    def __init__(self, type_name):
        self.type_name = str(type_name)[:80]

    def __repr__(self):
        return f"<{self.type_name} object (not a plain NumPy array or number)>"

    __str__ = __repr__


class DecodeError(ValueError):
    """A value sent back by the child is malformed or too large."""


def _save_npy(path, arr):
    import numpy as np
    with open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def encode_args(obj, outdir, names):
    """Encode a case's args/kwargs (trusted side) into a JSON tree, arrays into .npy files.

    Arrays keep their dtype, shape, strides and writeable flag: the raw memory span under a
    non-contiguous view is sent, and the child rebuilds the same view on it.
    """
    import numpy as np
    if obj is None or isinstance(obj, (bool, str)):
        return {"t": "plain", "v": obj}
    if isinstance(obj, int) and not isinstance(obj, np.integer):
        return {"t": "int", "v": str(obj)}
    if isinstance(obj, float):
        return {"t": "float", "v": repr(obj)}
    if isinstance(obj, complex):
        return {"t": "complex", "v": [repr(obj.real), repr(obj.imag)]}
    if isinstance(obj, (tuple, list)):
        return {"t": type(obj).__name__, "items": [encode_args(x, outdir, names) for x in obj]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("sandbox: dict keys in case args must be str")
        return {"t": "dict", "items": [[k, encode_args(v, outdir, names)] for k, v in obj.items()]}
    if isinstance(obj, np.generic) and obj.dtype.kind in NUMERIC_KINDS:
        name = f"a{len(names)}.npy"
        names.append(name)
        _save_npy(os.path.join(outdir, name), np.asarray(obj))
        return {"t": "npscalar", "file": name}
    if type(obj) is np.ndarray and obj.dtype.kind in NUMERIC_KINDS:
        return _encode_array_layout(obj, outdir, names)
    raise TypeError(f"sandbox: cannot send a {type(obj).__name__} to the child "
                    "(case args must be plain values: numeric arrays, numbers, None, tuples)")


def _encode_array_layout(a, outdir, names):
    import numpy as np
    from numpy.lib.array_utils import byte_bounds
    name = f"a{len(names)}.npy"
    names.append(name)
    layout = None
    if a.size > 0 and not a.flags.c_contiguous:
        lo, hi = byte_bounds(a)
        span = hi - lo
        if span <= 4 * a.nbytes + (1 << 20):
            raw = np.frombuffer(ctypes.string_at(lo, span), dtype=np.uint8)
            _save_npy(os.path.join(outdir, name), raw)
            layout = {"dtype": a.dtype.str, "shape": list(a.shape), "strides": list(a.strides),
                      "offset": a.__array_interface__["data"][0] - lo}
    if layout is None:
        _save_npy(os.path.join(outdir, name), a)
    return {"t": "ndarray", "file": name, "layout": layout, "writeable": bool(a.flags.writeable)}


def decode(spec, indir, *, trusted=False):
    """Rebuild a value from its JSON tree; strict and size-limited unless `trusted`."""
    counter = [0]
    total = [0]
    return _decode(spec, indir, 0, counter, total, trusted)


def _decode(spec, indir, depth, counter, total, trusted):
    import numpy as np
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise DecodeError("value nested too deeply or too large")
    if not isinstance(spec, dict) or not isinstance(spec.get("t"), str):
        raise DecodeError("malformed value")
    t = spec["t"]
    if t == "plain":
        v = spec.get("v")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            if len(v) > MAX_STR:
                raise DecodeError("string too long")
            return v
        raise DecodeError("malformed plain value")
    if t == "int":
        v = spec.get("v")
        if not isinstance(v, str) or len(v) > MAX_INT_DIGITS or not re.fullmatch(r"-?\d+", v):
            raise DecodeError("malformed int")
        return int(v)
    if t == "float":
        return _float(spec.get("v"))
    if t == "complex":
        v = spec.get("v")
        if not isinstance(v, list) or len(v) != 2:
            raise DecodeError("malformed complex")
        return complex(_float(v[0]), _float(v[1]))
    if t in ("tuple", "list"):
        items = spec.get("items")
        if not isinstance(items, list):
            raise DecodeError("malformed sequence")
        out = [_decode(x, indir, depth + 1, counter, total, trusted) for x in items]
        return tuple(out) if t == "tuple" else out
    if t == "dict":
        items = spec.get("items")
        if not isinstance(items, list):
            raise DecodeError("malformed dict")
        out = {}
        for kv in items:
            if not (isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)
                    and len(kv[0]) <= MAX_STR):
                raise DecodeError("malformed dict item")
            out[kv[0]] = _decode(kv[1], indir, depth + 1, counter, total, trusted)
        return out
    if t == "unsupported":
        name = spec.get("type")
        return UnsupportedValue(name if isinstance(name, str) else "unknown")
    if t in ("ndarray", "npscalar"):
        arr = _load_array(spec.get("file"), indir, total, trusted)
        if t == "npscalar":
            if arr.ndim != 0:
                raise DecodeError("malformed scalar")
            return arr[()]
        layout = spec.get("layout") if trusted else None
        if layout:
            arr = np.ndarray(tuple(layout["shape"]), dtype=np.dtype(layout["dtype"]),
                             buffer=arr, offset=layout["offset"], strides=tuple(layout["strides"]))
        if trusted and spec.get("writeable") is False:
            arr.flags.writeable = False
        return arr
    raise DecodeError(f"unknown value type {t[:20]!r}")


def _float(v):
    if not isinstance(v, str) or len(v) > 40:
        raise DecodeError("malformed float")
    try:
        return float(v)
    except ValueError:
        raise DecodeError("malformed float") from None


def _load_array(name, indir, total, trusted):
    import numpy as np
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise DecodeError("malformed array reference")
    path = os.path.join(indir, name)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DecodeError("array is not a regular file")
        if trusted:
            arr = np.load(fh, allow_pickle=False)
        else:
            total[0] += st.st_size
            if st.st_size > MAX_ARRAY_BYTES + 4096 or total[0] > MAX_RESULT_BYTES:
                raise DecodeError("returned array too large")
            arr = _read_npy_strict(fh, st.st_size)
    if type(arr) is not np.ndarray or arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields:
        raise DecodeError("array of a non-numeric dtype")
    return arr


def _read_npy_strict(fh, size):
    """Parse an untrusted .npy by hand: numeric dtype, data size matching the header, no pickle."""
    import numpy as np
    from numpy.lib import format as npf
    try:
        version = npf.read_magic(fh)
        read_header = {(1, 0): npf.read_array_header_1_0, (2, 0): npf.read_array_header_2_0}[version]
        shape, fortran, dtype = read_header(fh)
    except Exception as exc:
        raise DecodeError(f"unreadable array header ({type(exc).__name__})") from None
    if (dtype.kind not in NUMERIC_KINDS or dtype.fields or dtype.hasobject or dtype.subdtype
            or not all(isinstance(n, int) and 0 <= n <= MAX_ARRAY_BYTES for n in shape)
            or len(shape) > 32):
        raise DecodeError("array of a non-numeric dtype or a bad shape")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES or size - fh.tell() != nbytes:
        raise DecodeError("array data does not match its header")
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise DecodeError("array data truncated")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def encode_result(obj, outdir, prefix, counter=None):
    """Encode what the student returned (child side): only exact plain types pass as values."""
    import numpy as np
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise ValueError("result too large")
    tp = type(obj)
    if obj is None or tp is bool:
        return {"t": "plain", "v": obj}
    if tp is str:
        return {"t": "plain", "v": obj[:MAX_STR]}
    if tp is int:
        s = str(obj) if obj.bit_length() < 13000 else "0"
        return {"t": "int", "v": s} if len(s) <= MAX_INT_DIGITS else {"t": "unsupported", "type": "huge int"}
    if tp is float:
        return {"t": "float", "v": repr(obj)}
    if tp is complex:
        return {"t": "complex", "v": [repr(obj.real), repr(obj.imag)]}
    if tp is tuple or tp is list:
        return {"t": tp.__name__, "items": [encode_result(x, outdir, prefix, counter) for x in obj]}
    if tp is dict and all(type(k) is str for k in obj):
        return {"t": "dict", "items": [[k, encode_result(v, outdir, prefix, counter)]
                                       for k, v in obj.items()]}
    is_scalar = isinstance(obj, np.generic) and tp.__module__ == "numpy"
    if (tp is np.ndarray or is_scalar) and obj.dtype.kind in NUMERIC_KINDS and not obj.dtype.fields:
        if obj.nbytes > MAX_ARRAY_BYTES:
            return {"t": "unsupported", "type": f"ndarray of {obj.nbytes} bytes (too large)"}
        name = f"{prefix}_{counter[0]}.npy"
        _save_npy(os.path.join(outdir, name), np.asarray(obj))
        return {"t": "npscalar" if is_scalar else "ndarray", "file": name}
    try:
        name = tp.__name__ if isinstance(tp.__name__, str) else "object"
    except Exception:
        name = "object"
    return {"t": "unsupported", "type": name[:80]}


# ----------------------------------------------------------------------------------------
# Kernel interfaces (ctypes)
# ----------------------------------------------------------------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def mount(src, dst, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _check(_libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {src} on {dst}")


def prctl(option, arg):
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl({option})")


def bind_ro(src, dst):
    mount(src, dst, None, MS_BIND)
    mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# ----------------------------------------------------------------------------------------
# The supervisor S
# ----------------------------------------------------------------------------------------
NS_FLAGS = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
SUBMISSION = "/submission"
#: the few files of /etc that programs read at run time (dynamic linker, time zone, names)
ETC_ALLOWED = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
               "nsswitch.conf", "hosts", "host.conf", "os-release", "mime.types", "alternatives",
               "fonts")


def fail_setup(msg, code=3):
    sys.stderr.write(f"SANDBOX-SETUP-ERROR: {msg}\n")
    sys.stderr.flush()
    os._exit(code)


_T0 = _monotonic()


def main(jobdir):
    with open(os.path.join(jobdir, "job.json")) as fh:
        job = json.load(fh)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a killed grading worker leaves no sandbox running
    if os.getppid() != job.get("parent_pid", os.getppid()) and os.getppid() == 1:
        os._exit(72)  # the parent died before the death signal was armed
    if os.geteuid() != 0:
        fail_setup("the grading sandbox must start as root (it needs CAP_SYS_ADMIN for "
                   f"namespaces and mounts, and to switch to an unprivileged uid); euid={os.geteuid()}")
    try:
        unshare(NS_FLAGS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        fail_setup(f"cannot create mount/network/pid namespaces ({exc}); "
                   "run as root on Linux with namespaces enabled (not inside a restricted container)")
    import numpy as np  # noqa: F401  (imported before any student code, never from the submission)
    root = os.path.join(jobdir, "root")
    try:
        build_root(root, job)
    except OSError as exc:
        fail_setup(f"cannot build the sandbox filesystem: {exc}")
    cases = load_cases(jobdir, job)
    job["t_setup"] = _monotonic() - _T0
    alive_r, alive_w = os.pipe()  # EOF on alive_r <=> the supervisor is gone
    pid = os.fork()
    if pid == 0:
        try:
            os.close(alive_w)
            ns_init(job, root, cases, alive_r)
        finally:
            os._exit(70)
    os.close(alive_r)
    supervise(job, root, pid, jobdir)


def build_root(root, job):
    os.makedirs(root, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    for d in ("usr", "bin", "lib", "lib64", "sbin"):
        _bind_path("/" + d, root)
    os.makedirs(os.path.join(root, "etc"))
    for name in ETC_ALLOWED:  # not all of /etc: a course may keep configs (db_url...) there
        _bind_path(os.path.join("/etc", name), root)
    os.makedirs(os.path.join(root, "dev"))
    for n in ("null", "zero", "random", "urandom"):
        dst = os.path.join(root, "dev", n)
        open(dst, "w").close()
        mount("/dev/" + n, dst, None, MS_BIND)
        mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC)
    for d in ("tmp", "out", "dev/shm", SUBMISSION.strip("/")):
        os.makedirs(os.path.join(root, d))
    out = os.path.join(root, "out")
    mount("tmpfs", out, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          "size=512m,nr_inodes=20000,mode=755")
    for g in job["groups"]:
        gdir = os.path.join(out, g["name"])
        os.mkdir(gdir, 0o700)
        os.chown(gdir, g["uid"], g["uid"])
    # the Python installation is bound per group, on top of the group's own /tmp (python_layer)


def _bind_path(src, root):
    """Show `src` at the same place under `root`, read-only (symlinks recreated as links)."""
    dst = root + src
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    elif os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
        bind_ro(src, dst)
    elif os.path.isfile(src):
        open(dst, "w").close()
        bind_ro(src, dst)


def load_cases(jobdir, job):
    indir = os.path.join(jobdir, "in")
    out = {}
    for g in job["groups"]:
        for c in g["checks"]:
            out[c["key"]] = [(decode(a, indir, trusted=True), decode(k, indir, trusted=True))
                             for a, k in c["cases"]]
    return out


def supervise(job, root, init_pid, jobdir):
    deadline = _monotonic() + job["deadline"]
    out = os.path.join(root, "out")
    done = set()
    names = [g["name"] for g in job["groups"]]

    def scan():
        for n in names:
            if n in done:
                continue
            if os.path.exists(os.path.join(out, n, "done.json")):
                done.add(n)
            elif os.path.exists(os.path.join(out, f"setup-{n}.json")):
                try:
                    with open(os.path.join(out, f"setup-{n}.json")) as fh:
                        if "error" in json.load(fh):
                            done.add(n)
                except (OSError, ValueError):
                    pass

    while True:
        pid, _ = os.waitpid(init_pid, os.WNOHANG)
        scan()
        if pid:
            init_pid = None
            break
        if len(done) == len(names) or _monotonic() > deadline:
            break
        time.sleep(0.004)
    if init_pid:
        os.kill(init_pid, signal.SIGKILL)  # pid 1 of the namespace: takes every process with it
        os.waitpid(init_pid, 0)
    copy_results(out, os.path.join(jobdir, "results"), names)
    with open(os.path.join(jobdir, "results", "summary.json"), "w") as fh:
        json.dump({"groups_done": sorted(done), "timed_out": _monotonic() > deadline,
                   "seconds_setup": round(job["t_setup"], 3),
                   "seconds_total": round(_monotonic() - _T0, 3)}, fh)


def copy_results(src_root, dst_root, names):
    os.makedirs(dst_root, exist_ok=True)
    for n in names:  # written by pid 1 (root) into root's /out: trusted
        src = os.path.join(src_root, f"setup-{n}.json")
        if os.path.isfile(src) and not os.path.islink(src):
            with open(src, "rb") as fi, open(os.path.join(dst_root, f"setup-{n}.json"), "wb") as fo:
                fo.write(fi.read(1 << 16))
    budget = MAX_RESULT_BYTES
    for n in names:
        src_dir = os.path.join(src_root, n)
        dst_dir = os.path.join(dst_root, n)
        os.mkdir(dst_dir)
        try:
            entries = os.listdir(src_dir)[:5000]
        except OSError:
            continue
        for e in entries:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", e) or e.startswith(".tmp"):
                continue
            try:
                fd = os.open(os.path.join(src_dir, e), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fd)
                cap = MAX_JSON_BYTES if e.endswith(".json") else MAX_ARRAY_BYTES + 4096
                if not stat.S_ISREG(st.st_mode) or st.st_size > min(budget, cap):
                    continue
                data = fh.read(st.st_size + 1)[: st.st_size]
            budget -= len(data)
            with open(os.path.join(dst_dir, e), "wb") as fh:
                fh.write(data)


# ----------------------------------------------------------------------------------------
# pid 1 of the namespace
# ----------------------------------------------------------------------------------------
def ns_init(job, root, cases, alive_r):
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if _select([alive_r], [], [], 0)[0]:  # the supervisor died before the death signal was armed
        os._exit(71)
    os.close(alive_r)
    pipes = {}
    for g in job["groups"]:
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(r)
            for other in pipes.values():
                os.close(other)
            try:
                group_main(job, g, root, cases, w)
            except BaseException as exc:  # setup failed before any student code: say so, stop
                import traceback
                traceback.print_exc()
                try:
                    os.write(w, b"e" + f"{type(exc).__name__}: {exc}"[:2000].encode())
                except BaseException:
                    pass
            os._exit(0)
        os.close(w)
        pipes[g["name"]] = r
    data = {name: b"" for name in pipes}
    while pipes:  # each holder writes "s" just before student code (or "e" + why), then closes
        _reap()   # meanwhile, orphans exit: zombies would count against RLIMIT_NPROC
        ready, _, _ = _select(list(pipes.values()), [], [], 0.02)
        for name, r in list(pipes.items()):
            if r not in ready:
                continue
            chunk = os.read(r, 4096)
            data[name] = (data[name] + chunk)[:4096]
            if chunk:
                continue
            os.close(r)
            del pipes[name]
            d = data[name]
            status = {"started": True} if d[:1] == b"s" else {
                "error": d[1:].decode("utf-8", "replace") if d[:1] == b"e" else "no reply"}
            # /out itself is root's: student code cannot write or forge this file
            _write_json(os.path.join(root, "out", f"setup-{name}.json"), status)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            pass


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _write_json(path, obj):
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
    with open(tmp, "w") as fh:
        json.dump(obj, fh)
    os.rename(tmp, path)


# ----------------------------------------------------------------------------------------
# A group holder H: confine, run the cells, fork one W per check
# ----------------------------------------------------------------------------------------
BLOCKED = ("cnnlib", "scipy.signal", "scipy.ndimage")


class ReferenceBlocker:
    """Meta-path finder refusing the reference implementations (installed before student code)."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        for b in BLOCKED:
            if name == b or name.startswith(b + "."):
                if name not in self.attempts:
                    self.attempts.append(name)
                raise ImportError(f"import of {name} is not allowed in this exercise "
                                  "(write it with NumPy)", name=name)
        return None

    def find_module(self, name, path=None):  # pragma: no cover - legacy protocol
        return None


class CappedWriter:
    """sys.stdout/sys.stderr replacement: keeps the first bytes in a log, drops the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fd, cap):
        self._fd, self._left = fd, cap
        self.buffer = _CappedBytes(self)

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._emit(s[: max(self._left, 0)].encode("utf-8", "replace"))
        return len(s)

    def _emit(self, b):
        if self._left > 0 and b:
            b = b[: self._left]
            self._left -= len(b)
            try:
                os.write(self._fd, b)
            except OSError:
                self._left = 0

    def writelines(self, lines):
        for x in lines:
            self.write(x)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        import io
        raise io.UnsupportedOperation("fileno")

    def writable(self):
        return True

    @property
    def closed(self):
        return False


class _CappedBytes:
    """`sys.stdout.buffer` of a CappedWriter."""

    def __init__(self, text):
        self._text = text

    def write(self, b):
        b = bytes(b)
        self._text._emit(b)
        return len(b)

    def flush(self):
        pass


class _Anything:
    """What `get_ipython()` returns in the sandbox: accepts every call and attribute, does nothing."""

    def __getattr__(self, name):
        return self

    def __call__(self, *a, **k):
        return self

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False


_ANY = _Anything()


class _Shell(_Anything):
    """`get_ipython()` in the sandbox: the magics that run code or write a file work, the rest
    (``%matplotlib``, ``!cmd``, registered transformers, ...) do nothing."""

    def __init__(self, ns):
        self.__dict__.update(_ns=ns, user_ns=ns)

    def run_line_magic(self, name, line, *a, **k):
        if name == "time":
            exec(compile(line, "<%time>", "exec"), self._ns)
        elif name == "timeit":  # once, and its names do not stay (as in IPython)
            exec(compile(_timeit_body(line), "<%timeit>", "exec"), dict(self._ns))
        return None

    def run_cell_magic(self, name, line, cell, *a, **k):
        if name in ("time", "capture"):
            exec(compile(cell, f"<%%{name}>", "exec"), self._ns)
        elif name == "timeit":
            exec(compile(cell, "<%%timeit>", "exec"), dict(self._ns))
        elif name in ("writefile", "file"):
            args = line.split()
            append = "-a" in args or "--append" in args
            paths = [x for x in args if not x.startswith("-")]
            if paths:
                with open(paths[0].strip("'\""), "a" if append else "w") as fh:
                    fh.write(cell)
        return None


def _timeit_body(line):
    words = line.split()  # drop options such as -n 10 -r 3 -q
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in ("-n", "-r", "-p") else words[1:]
    return " ".join(words) if words else "pass"


def _display(*a, **k):
    return None


def copy_submission(src, dst, uid, budget=200 << 20, max_files=2000):
    """Copy the submission folder (no symlink followed, no special file) and give it to `uid`."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = os.path.relpath(dirpath, src)
        tdir = dst if rel == "." else os.path.join(dst, rel)
        for name in dirnames + filenames:
            n += 1
            if n > max_files:
                return
            s, t = os.path.join(dirpath, name), os.path.join(tdir, name)
            try:
                budget -= _copy_entry(s, t, uid, budget)
            except FileNotFoundError:  # removed while we copy (an editor's or a tool's temp file)
                continue
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def _copy_entry(s, t, uid, budget):
    """Copy one entry of the submission (a link as a link); returns the bytes it used."""
    st = os.lstat(s)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(s), t)
        os.lchown(t, uid, uid)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(t, 0o755)
        os.chown(t, uid, uid)
    elif stat.S_ISREG(st.st_mode) and st.st_size <= budget:
        fd = os.open(s, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fi, open(t, "wb") as fo:
            while chunk := fi.read(1 << 20):
                fo.write(chunk)
        os.chown(t, uid, uid)
        return st.st_size
    return 0


def group_main(job, g, root, cases, setup_w):
    """Confine this process (a group holder), run the cells, then one forked worker per check."""
    group_filesystem(job, g, root)
    outdir = enter_sandbox(job, g, root, keep_fd=setup_w)
    blocker = ReferenceBlocker()
    if not g["allow_cnnlib"]:
        for m in list(sys.modules):
            if any(m == b or m.startswith(b + ".") for b in BLOCKED):
                del sys.modules[m]
        sys.meta_path.insert(0, blocker)
    sys.path.insert(0, SUBMISSION)
    ns = student_namespace()
    os.write(setup_w, b"s")
    os.close(setup_w)
    # from here on student code runs: a failure is the submission's, never a setup error
    try:
        cell_report = run_cells(job, ns)
        for i, c in enumerate(g["checks"]):
            run_one_check(job, c, i, ns, cases[c["key"]], outdir, blocker)
        done = {"cells": cell_report, "blocked": blocker.attempts[:20]}
    except BaseException as exc:
        done = {"cells": [], "blocked": blocker.attempts[:20], "holder_error": _describe(exc)}
    _write_json(os.path.join(outdir, "done.json"), done)


def group_filesystem(job, g, root):
    """This group's mounts: a fresh copy of the submission, /tmp, cnnlib or hidden references."""
    uid = g["uid"]
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    sub = root + SUBMISSION
    mount("tmpfs", sub, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={job['disk_limit']},nr_inodes=20000,mode=755")
    os.chown(sub, uid, uid)
    if job.get("workdir"):
        copy_submission(job["workdir"], sub, uid, budget=job["disk_limit"] * 3 // 4)
    tmp = os.path.join(root, "tmp")
    mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,nr_inodes=20000,mode=1777")
    mount("tmpfs", os.path.join(root, "dev", "shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          "size=64m,nr_inodes=1000,mode=1777")  # POSIX semaphores of multiprocessing
    mpl = os.path.join(tmp, "mpl")  # matplotlib's font cache, so that pyplot starts quickly
    os.mkdir(mpl, 0o700)
    os.chown(mpl, uid, uid)
    for f in job.get("mpl_cache_files", []):
        try:
            dst = os.path.join(mpl, os.path.basename(f))
            with open(f, "rb") as fi, open(dst, "wb") as fo:
                fo.write(fi.read(8 << 20))
            os.chown(dst, uid, uid)
        except OSError:
            pass
    python_layer(job, root, g["allow_cnnlib"])
    mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def python_layer(job, root, allow_cnnlib):
    """Bind the Python installation (and cnnlib if allowed) on top of every other mount.

    Mounted last, after this group's private /tmp, /dev/shm and /submission, so that a venv
    or a clone living under /tmp (CI) is visible and not hidden by them. Only the bound
    folders appear: their parents are empty root-owned folders (a course root holding the
    venv shows nothing else).
    """
    for src, place in job["python_binds"]:
        bind_ro(src, _mount_point(root, place))
    for d in job.get("always_hidden", []):  # e.g. <venv>/etc/jupyter: nbgrader configs
        _hide(root + d)
    if allow_cnnlib:
        for src, place in job.get("cnnlib_binds", []):
            bind_ro(src, _mount_point(root, place))
    else:
        for d in job.get("hide_dirs", []):  # scipy.signal / scipy.ndimage: an empty, read-only dir
            _hide(root + d)


def _hide(dst):
    """An empty read-only folder over `dst` (which the binds above must have made visible)."""
    if not os.path.isdir(dst):
        raise RuntimeError(f"cannot hide {dst}: not a folder in the sandbox")
    mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")


def _mount_point(root, place):
    """Create the folder `place` under `root` (each new level root-owned, mode 755).

    Never leaves `root`: every level is resolved (symlinks such as /lib -> usr/lib) and must
    stay inside it before anything is created there.
    """
    if not os.path.isabs(place) or ".." in place.split("/"):
        raise ValueError(f"bad mount point {place!r}")
    top = os.path.realpath(root)
    path = root
    for part in [x for x in place.split("/") if x]:
        if not (os.path.realpath(path) + os.sep).startswith(top + os.sep):
            raise ValueError(f"mount point {place!r} leaves the sandbox root")
        path = os.path.join(path, part)
        if not os.path.lexists(path):
            try:
                os.mkdir(path, 0o755)
                os.chmod(path, 0o755)
            except FileExistsError:  # another group made it meanwhile (shared root tmpfs)
                pass
    real = os.path.realpath(path)
    if not (real + os.sep).startswith(top + os.sep) or not os.path.isdir(real):
        raise ValueError(f"mount point {place!r} leaves the sandbox root or is no folder")
    return path


def enter_sandbox(job, g, root, keep_fd):
    """chroot, drop privileges, point stdio at /dev/null and a capped log; returns the out dir."""
    outdir = os.path.join("/out", g["name"])
    os.chroot(root)
    os.chdir(SUBMISSION)
    confine(job, g["uid"])
    log_fd = os.open(os.path.join(outdir, "log.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    _close_fds_except({log_fd, keep_fd})
    sys.stdout = sys.__stdout__ = CappedWriter(log_fd, job["log_cap"])
    sys.stderr = sys.__stderr__ = CappedWriter(log_fd, job["log_cap"])
    sys.stdin = sys.__stdin__ = open(os.devnull)
    os.environ.update({"HOME": "/tmp", "MPLCONFIGDIR": "/tmp/mpl", "TMPDIR": "/tmp"})
    return outdir


def student_namespace():
    """A fresh `__main__` module for the cells (functions defined there pickle as in a kernel)."""
    import types
    main = types.ModuleType("__main__")
    ns = main.__dict__
    shell = _Shell(ns)
    ns.update({"display": _display, "get_ipython": lambda: shell})
    sys.modules["__main__"] = main
    sys.argv = [""]
    return ns


def _close_fds_except(keep):
    try:
        fds = [int(x) for x in os.listdir("/dev/fd")]
    except OSError:
        fds = range(3, 1024)
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def confine(job, uid):
    import resource
    lim = job["limits"]
    for res, val in ((resource.RLIMIT_AS, lim["memory"]), (resource.RLIMIT_NPROC, lim["nproc"]),
                     (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_NOFILE, lim["nofile"]),
                     (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, lim["cpu"])):
        resource.setrlimit(res, (val, val))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RuntimeError("privileges were not dropped")
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid or os.getgroups():
        raise RuntimeError("privileges were not dropped")


def _exec_cell(src, ns, index):
    try:
        code = compile(src, f"<cell {index}>", "exec")
        exec(code, ns)
        return {"status": "ok"}
    except BaseException as exc:  # a broken cell must not stop the later ones
        return {"status": "error", "error": _describe(exc)}


def _describe(exc):
    try:
        msg = str(exc)
    except BaseException:
        msg = "<unprintable>"
    return f"{type(exc).__name__}: {msg}"[:500]


def _kill_stragglers():
    """SIGKILL every process of this sandbox uid but the caller (pid 1 is root, untouched)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass


def _fork():
    """os.fork, waiting out a full process table (a fork bomb's leftovers), then clearing it."""
    for attempt in range(60):
        try:
            return os.fork()
        except BlockingIOError:
            if attempt in (10, 30):
                _kill_stragglers()
            time.sleep(0.05)
    return os.fork()


def _wait_child(pid, r, timeout):
    """Wait for a forked child: 'k' read on `r` -> ok; its death, EOF or `timeout` -> not ok.

    The child's death is noticed even while processes it started keep the pipe open (a fork
    bomb, a daemon). On failure the child's process group is killed. Returns
    (ok, timed_out, status, cpu): `cpu` is the child's CPU seconds when it was reaped here.
    """
    deadline = _monotonic() + timeout
    ok = timed_out = False
    status = cpu = None
    while True:
        left = deadline - _monotonic()
        if left <= 0:
            timed_out = True
            break
        try:
            ready, _, _ = _select([r], [], [], min(left, 0.05))
        except InterruptedError:
            continue
        if ready:
            try:
                data = os.read(r, 1)
            except OSError:
                data = b""
            ok = data == b"k"
            break
        status, cpu = _reap_child(pid, os.WNOHANG)
        if status is not None:  # died without a word (but maybe just after writing it)
            ok = _select([r], [], [], 0)[0] != [] and os.read(r, 1) == b"k"
            break
    os.close(r)
    if not ok and status is None:
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        status, cpu = _reap_child(pid, 0)
    return ok, timed_out, status, cpu


def _reap_child(pid, flags):
    """(status, cpu seconds) of the child `pid` once it has ended, else (None, None)."""
    try:
        got, status, ru = os.wait4(pid, flags)
    except ChildProcessError:
        return -1, None
    if got == 0:
        return None, None
    return status, ru.ru_utime + ru.ru_stime


def _cpu_seconds():
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _limit_cpu(seconds, hard=False):
    """This process may use `seconds` more CPU seconds (SIGXCPU then; SIGKILL 1 s later if `hard`).

    Without `hard` only the soft limit moves (the hard one stays the holder's), so that the
    next cell, forked from this process, can get its own budget.
    """
    import math
    import resource
    _, cur_hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(math.ceil(_cpu_seconds() + max(seconds, 0.0))) or 1
    if cur_hard != resource.RLIM_INFINITY:
        soft = min(soft, cur_hard)
    new_hard = cur_hard
    if hard:
        new_hard = soft + 1 if cur_hard == resource.RLIM_INFINITY else min(soft + 1, cur_hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))


def _wall(cpu_seconds, job):
    """Wall-clock backstop for work limited to `cpu_seconds` of CPU (a loaded machine is slow)."""
    return job["wall_factor"] * cpu_seconds + job["wall_slack"]


def run_cells(job, ns):
    """Run each cell in a fork that becomes the next holder; CPU-time limits, wall backstop.

    A cell may use `cell_timeout` CPU seconds, all cells together `cells_total_timeout`;
    the wall clock only stops cells that wait (sleep, block) far beyond that.
    """
    report = []
    cpu_left = job["cells_total_timeout"]
    wall_end = _monotonic() + _wall(job["cells_total_timeout"], job)
    for i, src in enumerate(job["cells"]):
        budget = min(job["cell_timeout"], cpu_left)
        wall = min(_wall(budget, job), wall_end - _monotonic())
        if budget <= 0 or wall <= 0:
            report.append({"status": "skipped"})
            continue
        r, w = os.pipe()
        pid = _fork()
        if pid == 0:
            os.close(r)
            os.setpgid(0, 0)
            _limit_cpu(budget)
            result = _exec_cell(src, ns, i + 1)
            used = _cpu_seconds()
            result["cpu"] = round(used, 3)
            report.append(result)
            cpu_left -= used
            try:
                os.write(w, b"k")
            except OSError:
                pass
            os.close(w)
            continue  # this process now holds the state; its parent exits
        os.close(w)
        ok, timed_out, status, cpu = _wait_child(pid, r, wall)
        if ok:
            os._exit(0)
        _kill_stragglers()  # whatever the killed cell started
        sig = _signal_of(status)
        over = timed_out or sig == signal.SIGXCPU or (cpu is not None and cpu >= budget - 0.05)
        cpu_left -= cpu if cpu is not None else budget
        report.append({"status": "timeout" if over else "crashed", "signal": sig,
                       "cpu": None if cpu is None else round(cpu, 3)})
    return report


def _signal_of(status):
    if status is None or status < 0:
        return None
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def run_one_check(job, c, index, ns, cases, outdir, blocker):
    prefix = f"c{index}"
    for name in os.listdir(outdir):  # nothing planted earlier (by a cell, another check) counts
        if name.startswith(prefix + "_") or name.startswith(".tmp-" + prefix + "_"):
            try:
                os.unlink(os.path.join(outdir, name))
            except OSError:
                pass
    r, w = os.pipe()
    t0 = _monotonic()
    pid = _fork()
    if pid == 0:
        os.close(r)
        try:
            os.setpgid(0, 0)
            _limit_cpu(c["timeout"], hard=True)
            check_worker(c, prefix, ns, cases, outdir, blocker)
            os.write(w, b"k")
        finally:
            os._exit(0)
    os.close(w)
    ok, timed_out, status, cpu = _wait_child(pid, r, _wall(c["timeout"], job))
    if ok:
        status, cpu = _reap_child(pid, 0) if status is None else (status, cpu)
    sig = _signal_of(status)
    if not ok:
        _kill_stragglers()  # what the stuck or crashed function started, daemons included
    over = timed_out or sig == signal.SIGXCPU or (
        not ok and cpu is not None and cpu >= c["timeout"] - 0.05)
    _write_json(os.path.join(outdir, f"{prefix}_status.json"),
                {"finished": ok, "timeout": over, "signal": sig,
                 "cpu": None if cpu is None else round(cpu, 3),
                 "seconds": round(_monotonic() - t0, 3)})


def check_worker(c, prefix, ns, cases, outdir, blocker):
    target = c["target"]
    if target not in ns:
        _write_json(os.path.join(outdir, f"{prefix}_missing.json"), {"missing": True})
        return
    fn = ns[target]
    for k, (args, kwargs) in enumerate(cases):
        before = len(blocker.attempts)
        res = None
        try:
            got = fn if c["kind"] == "value" else fn(*args, **kwargs)
        except MemoryError:
            res = {"status": "memory"}
        except BaseException as exc:
            res = {"status": "raised", "error": _describe(exc)}
        if res is None:
            try:
                res = {"status": "ok", "value": encode_result(got, outdir, f"{prefix}_{k}")}
                if c["kind"] != "value":  # arrays after the call: did the function write into them?
                    after = [args[i] if i < len(args) else None for i in c["array_args"]]
                    after += [kwargs.get(n) for n in c["array_kwargs"]]
                    res["inputs_after"] = encode_result(after, outdir, f"{prefix}_{k}_in")
            except BaseException as exc:
                res = {"status": "unsendable", "error": _describe(exc)}
        got = None
        if len(blocker.attempts) > before:
            res["blocked"] = blocker.attempts[before:before + 5]
        try:
            _write_json(os.path.join(outdir, f"{prefix}_{k}.json"), res)
        except BaseException as exc:  # e.g. a value too large for the file-size limit
            _write_json(os.path.join(outdir, f"{prefix}_{k}.json"),
                        {"status": "unsendable", "error": _describe(exc)})


if __name__ == "__main__":
    main(sys.argv[1])
