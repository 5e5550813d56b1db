"""Plain values between the trusted grader and the jail: JSON trees and raw array bytes, no pickle.

Both sides import this module (inside the jail it is the only grading code there is). A value
is a JSON tree (:func:`encode`, :func:`decode`); an array is a node with its dtype and shape,
its bytes a frame of their own. Frames are ``name size\\n`` and `size` bytes on a pipe
(:func:`frame_header`, :class:`FrameReader`). Nothing from the jail is trusted: decoding has a
node, depth, string and size budget, takes numeric dtypes only, checks the data size against
dtype and shape, and never unpickles. It imports only the standard library at module level.
"""
import math
import os
import re

MAX_DEPTH, MAX_NODES, MAX_STR = 20, 100_000, 10_000
MAX_ARRAY_BYTES = 64 << 20          # one returned array
MAX_RESULT_BYTES = 256 << 20        # everything one jail sends back
MAX_JSON_BYTES = 8 << 20            # one JSON frame
NUMERIC_KINDS = "biufc"
PLAIN = (type(None), bool, str, int, float, complex, tuple, list, dict)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
DTYPE_RE = re.compile(r"^[<>|=][biufc][0-9]{1,2}$")


class UnsupportedValue:
    """Stand-in for a returned object that is not a plain value (an ndarray subclass, an
    object with its own ``__eq__``, a generator): it equals nothing but itself."""

    __slots__ = ("type_name",)

    def __init__(self, type_name):
        self.type_name = str(type_name)[:80]

    def __repr__(self):  # (str() too)
        return f"<{self.type_name} object (not a plain NumPy array or number)>"


class DecodeError(ValueError):
    """A value sent back from the jail is malformed or too large."""


def encode(obj, blobs, prefix="a", *, trusted=False, _count=None):
    """`obj` as a JSON tree; the bytes of its arrays go into `blobs` (name -> bytes).

    Only exact plain types pass: None, bool, str, int, float, complex, tuple, list, dict with
    str keys, numeric NumPy arrays and scalars (and, from the grader only, numeric dtypes and
    scalar types such as ``np.float32``). The grader sends a case's arguments
    (`trusted`: a view keeps its layout and writeable flag; anything else is a TypeError);
    the jail sends what the student returned: a subclass of a tuple, list, dict or array (a
    namedtuple, np.matrix) as its plain content, as the in-process checks see it; anything
    else becomes an UnsupportedValue.
    """
    import numpy as np
    count = _count if _count is not None else [0]
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ValueError("result too large")
    tp = type(obj)
    if not (trusted or tp in PLAIN or tp is np.ndarray or isinstance(obj, np.generic)):
        for base in (tuple, list, dict, np.ndarray):  # a namedtuple, np.matrix: plain content
            if isinstance(obj, base):
                obj, tp = np.ndarray.view(obj, np.ndarray) if base is np.ndarray else base(obj), base
                break
    if obj is None or tp in (bool, str, int, float):  # JSON itself (NaN and infinities too)
        if tp is int and obj.bit_length() > 13000:
            return {"t": "unsupported", "type": "huge int"}
        return {"t": "plain", "v": obj[:MAX_STR] if tp is str else obj}
    if tp is complex:
        return {"t": "complex", "v": [obj.real, obj.imag]}
    if tp is tuple or tp is list or (tp is dict and all(type(k) is str for k in obj)):
        items = [encode(x, blobs, prefix, trusted=trusted, _count=count) for x in
                 (obj.values() if tp is dict else obj)]
        return {"t": tp.__name__, "items": list(map(list, zip(obj, items))) if tp is dict else items}
    scalar = isinstance(obj, np.generic) and tp.__module__ == "numpy"
    if (tp is np.ndarray or scalar) and obj.dtype.kind in NUMERIC_KINDS and not obj.dtype.fields:
        spec = {"t": "npscalar" if scalar else "ndarray", "file": f"{prefix}{len(blobs)}",
                "dtype": obj.dtype.str, "shape": list(np.shape(obj))}
        if trusted and not scalar:
            return _with_layout(obj, blobs, spec)
        if obj.nbytes > MAX_ARRAY_BYTES:
            return {"t": "unsupported", "type": f"ndarray of {obj.nbytes} bytes (too large)"}
        blobs[spec["file"]] = obj.tobytes()
        return spec
    if trusted and (isinstance(obj, np.dtype) or (
            isinstance(obj, type) and issubclass(obj, np.generic))):  # np.dtype("int8"), np.float32
        if np.dtype(obj).kind not in NUMERIC_KINDS:
            raise TypeError(f"exchange: cannot send the dtype {obj!r} into the jail (numeric only)")
        return {"t": "dtype" if isinstance(obj, np.dtype) else "nptype", "v": np.dtype(obj).str}
    if trusted:
        raise TypeError(f"exchange: cannot send a {tp.__name__} into the jail (case args must "
                        "be plain values: numeric arrays, numbers, None, str, tuples, lists, dicts)")
    try:
        return {"t": "unsupported", "type": str(tp.__name__)[:80]}
    except Exception:
        return {"t": "unsupported", "type": "object"}


def _with_layout(a, blobs, spec):
    """A view's raw memory span and its layout on it (strides, offset), and its writeable flag."""
    import ctypes
    from numpy.lib.array_utils import byte_bounds
    lo, hi = byte_bounds(a) if a.size else (0, 0)
    spec["writeable"] = bool(a.flags.writeable)
    if a.size and not a.flags.c_contiguous and hi - lo <= 4 * a.nbytes + (1 << 20):
        spec.update(strides=list(a.strides), offset=a.__array_interface__["data"][0] - lo)
        blobs[spec["file"]] = ctypes.string_at(lo, hi - lo)
    else:
        blobs[spec["file"]] = a.tobytes()
    return spec


def decode(spec, store, *, trusted=False, _depth=0, _budget=None):
    """Rebuild a value from its tree; `store` holds the array bytes (a dict name -> bytes).

    Strict and size-limited; `trusted` (the jail reading the grader's own inputs) also
    restores an array's layout and writeable flag and lifts the size budget.
    """
    budget = _budget if _budget is not None else [0, 0]
    budget[0] += 1
    if _depth > MAX_DEPTH or budget[0] > MAX_NODES:
        raise DecodeError("value nested too deeply or too large")
    if not isinstance(spec, dict) or not isinstance(spec.get("t"), str):
        raise DecodeError("malformed value")
    t, v, items = spec["t"], spec.get("v"), spec.get("items")
    if t == "plain" and (v is None or type(v) in (bool, float) or (type(v) is int and v.bit_length() <= 13000)
                         or (type(v) is str and len(v) <= MAX_STR)):
        return v
    if t == "complex" and isinstance(v, list) and len(v) == 2 and all(type(x) is float for x in v):
        return complex(*v)
    if t == "dict" and isinstance(items, list) and not all(
            isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) and len(kv[0]) <= MAX_STR
            for kv in items):
        raise DecodeError("malformed dict item")
    if t in ("tuple", "list", "dict") and isinstance(items, list):
        out = [decode(x, store, trusted=trusted, _depth=_depth + 1, _budget=budget)
               for x in (items if t != "dict" else (x for _, x in items))]
        return tuple(out) if t == "tuple" else out if t == "list" else dict(zip((k for k, _ in items), out))
    if t == "unsupported":
        return UnsupportedValue(spec.get("type") if isinstance(spec.get("type"), str) else "unknown")
    if t in ("ndarray", "npscalar"):
        return _array(spec, t, store, budget, trusted)
    if trusted and t in ("dtype", "nptype") and isinstance(v, str) and DTYPE_RE.match(v):
        import numpy as np
        return np.dtype(v) if t == "dtype" else np.dtype(v).type
    raise DecodeError(f"malformed value of type {t[:20]!r}")


def _array(spec, t, store, budget, trusted):
    """An array from its node and frame: a numeric dtype, data matching dtype and shape."""
    import numpy as np
    name, dtype, shape = spec.get("file"), spec.get("dtype"), spec.get("shape")
    if not (isinstance(name, str) and name in store and isinstance(dtype, str) and DTYPE_RE.match(dtype)
            and isinstance(shape, list) and len(shape) <= (32 if t == "ndarray" else 0)
            and all(type(n) is int and 0 <= n <= MAX_ARRAY_BYTES for n in shape)):
        raise DecodeError("malformed array")
    data, dtype = store[name], np.dtype(dtype)
    budget[1] += len(data)
    if not trusted and (len(data) > MAX_ARRAY_BYTES or budget[1] > MAX_RESULT_BYTES):
        raise DecodeError("returned array too large")
    if trusted and "strides" in spec:
        arr = np.ndarray(tuple(shape), dtype, bytearray(data), spec["offset"], tuple(spec["strides"]))
    elif math.prod(shape) * dtype.itemsize != len(data):
        raise DecodeError("array data does not match its dtype and shape")
    else:
        arr = np.frombuffer(data, dtype).reshape(shape).copy()
    if trusted and spec.get("writeable") is False:
        arr.flags.writeable = False
    return arr[()] if t == "npscalar" else arr


def frame_header(name: str, size: int) -> bytes:
    """The head of one frame on a pipe: ``name size\\n``, then `size` bytes."""
    return f"{name} {size}\n".encode()


def write_frame(fd: int, name: str, data: bytes) -> None:
    """Write one frame to `fd` (a memoryview: no copy of the rest per partial write)."""
    for part in (frame_header(name, len(data)), memoryview(data)):
        while part:
            part = part[os.write(fd, part):]


class FrameReader:
    """Frames by name from a pipe, within a byte budget; a partial last frame is never stored.

    `sections` (the jail's results): ``start.<p>`` opens check `p`'s section and ``<p>_status``
    closes it; only ``<p>_...`` frames inside it are kept, ``started`` and ``done`` outside.
    Anything else is dropped, and inside a section (a foreign or repeated name, a section opened
    twice) marks `p` in `tainted`: its verdict is then "malformed", never a pass. Reading is
    linear in the bytes received (a frame's pieces are joined once).
    """

    def __init__(self, budget=MAX_RESULT_BYTES, sections=False):
        self.frames, self.left, self.broken, self.tainted = {}, budget, "", set()
        self._head, self._name, self._need, self._parts = b"", None, 0, []
        self._sections, self._open, self._seen = sections, None, set()

    def feed(self, chunk: bytes) -> None:
        pos = 0
        while not self.broken and (pos < len(chunk) or (self._name is not None and not self._need)):
            if self._name is None:
                end = chunk.find(b"\n", pos)
                self._head += chunk[pos:len(chunk) if end < 0 else end]
                pos = len(chunk) if end < 0 else end + 1
                name, _, size = self._head.decode("ascii", "replace").partition(" ")
                if len(self._head) > 200 or (end >= 0 and not (NAME_RE.match(name) and size.isdigit())):
                    self.broken = "malformed frame header"
                elif end >= 0 and int(size) > self.left:
                    self.broken = "results too large"
                elif end >= 0:
                    self._head, self._name, self._need, self._parts = b"", name, int(size), []
                    self.left -= self._need
                continue
            piece = chunk[pos:pos + self._need]
            pos, self._need = pos + len(piece), self._need - len(piece)
            self._parts.append(piece)
            if not self._need:
                name, data, self._name = self._name, b"".join(self._parts), None
                if not self._sections or self._admit(name):
                    self.frames[name] = data

    def _admit(self, name):
        """Whether frame `name` counts (see `sections`)."""
        if self._open is None and name.startswith("start."):
            self._open = name[len("start."):]
            self.tainted |= {self._open} & self._seen
            self._seen.add(self._open)
        elif self._open is None:
            return name in ("started", "done") and name not in self.frames
        elif not name.startswith(self._open + "_") or name in self.frames:
            self.tainted.add(self._open)
            return False
        elif name == self._open + "_status":
            self._open = None
        return True

    def json(self, name):
        """The JSON object of frame `name`, or None (missing, too large or malformed)."""
        import json
        data = self.frames.get(name)
        try:
            obj = json.loads(data) if data is not None and len(data) <= MAX_JSON_BYTES else None
        except (ValueError, RecursionError):
            return None
        return obj if isinstance(obj, dict) else None
