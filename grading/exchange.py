"""Plain values between the trusted grader and the jail: JSON trees and strict ``.npy``, no pickle.

Both sides import this module (inside the jail it is the only grading code there is):

* the trusted side writes a case's arguments with :func:`encode_args` (arrays keep dtype,
  shape, strides and the writeable flag) and reads what came back with :func:`decode`;
* the jail's runner turns whatever the student returned into a tree with
  :func:`encode_result` (only exact plain types pass; anything else becomes an
  :class:`UnsupportedValue`) and sends it as frames (:func:`frame`) on a pipe.

Nothing from the jail is trusted: :func:`decode` has a node, depth, string and size budget,
parses ``.npy`` headers by hand (numeric dtypes only, data size must match the header) and
never unpickles. It imports only the standard library at module level.
"""
import io
import re

MAX_DEPTH = 20
MAX_NODES = 100_000
MAX_STR = 10_000
MAX_INT_DIGITS = 4_000
MAX_ARRAY_BYTES = 64 << 20          # one returned array
MAX_RESULT_BYTES = 256 << 20        # everything one jail sends back
MAX_JSON_BYTES = 8 << 20            # one JSON frame
NUMERIC_KINDS = "biufc"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class UnsupportedValue:
    """Stand-in for a returned object that is not a plain value (an ndarray subclass, an
    object with its own ``__eq__``, a generator): it equals nothing but itself."""

    __slots__ = ("type_name",)

    def __init__(self, type_name):
        self.type_name = str(type_name)[:80]

    def __repr__(self):
        return f"<{self.type_name} object (not a plain NumPy array or number)>"

    __str__ = __repr__


class DecodeError(ValueError):
    """A value sent back from the jail is malformed or too large."""


def npy_bytes(arr) -> bytes:
    import numpy as np
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


# ------------------------------------------------------------------------------ trusted side
def encode_args(obj, blobs):
    """A case's args/kwargs as a JSON tree; arrays go into `blobs` (name -> ``.npy`` bytes)."""
    import numpy as np
    plain = _plain(obj)
    if plain is not None:
        return plain
    if isinstance(obj, (tuple, list)):
        return {"t": type(obj).__name__, "items": [encode_args(x, blobs) for x in obj]}
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"t": "dict", "items": [[k, encode_args(v, blobs)] for k, v in obj.items()]}
    if (isinstance(obj, np.generic) or type(obj) is np.ndarray) and obj.dtype.kind in NUMERIC_KINDS:
        name = f"a{len(blobs)}.npy"
        if isinstance(obj, np.generic):
            blobs[name] = npy_bytes(np.asarray(obj))
            return {"t": "npscalar", "file": name}
        return _array_with_layout(obj, blobs, name)
    raise TypeError(f"exchange: cannot send a {type(obj).__name__} into the jail (case args must "
                    "be plain values: numeric arrays, numbers, None, str, tuples, lists, dicts)")


def _array_with_layout(a, blobs, name):
    """The raw memory span under a non-contiguous view, and the view's layout on it."""
    import ctypes
    import numpy as np
    from numpy.lib.array_utils import byte_bounds
    layout = None
    lo, hi = byte_bounds(a) if a.size else (0, 0)
    if a.size and not a.flags.c_contiguous and hi - lo <= 4 * a.nbytes + (1 << 20):
        raw = np.frombuffer(ctypes.string_at(lo, hi - lo), dtype=np.uint8)
        layout = {"dtype": a.dtype.str, "shape": list(a.shape), "strides": list(a.strides),
                  "offset": a.__array_interface__["data"][0] - lo}
        blobs[name] = npy_bytes(raw)
    else:
        blobs[name] = npy_bytes(a)
    return {"t": "ndarray", "file": name, "layout": layout, "writeable": bool(a.flags.writeable)}


def _plain(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return {"t": "plain", "v": obj if not isinstance(obj, str) else obj[:MAX_STR]}
    if type(obj) is int:
        s = str(obj) if obj.bit_length() < 13000 else ""
        return {"t": "int", "v": s} if 0 < len(s) <= MAX_INT_DIGITS else {"t": "unsupported",
                                                                         "type": "huge int"}
    if type(obj) is float:
        return {"t": "float", "v": repr(obj)}
    if type(obj) is complex:
        return {"t": "complex", "v": [repr(obj.real), repr(obj.imag)]}
    return None


def decode(spec, store, *, trusted=False):
    """Rebuild a value from its tree; `store` holds the arrays (a dict name -> bytes).

    Strict and size-limited unless `trusted` (the jail reading the grader's own inputs).
    """
    return _decode(spec, store, 0, [0, 0], trusted)


def _decode(spec, store, depth, budget, trusted):
    import numpy as np
    budget[0] += 1
    if depth > MAX_DEPTH or budget[0] > MAX_NODES:
        raise DecodeError("value nested too deeply or too large")
    if not isinstance(spec, dict) or not isinstance(spec.get("t"), str):
        raise DecodeError("malformed value")
    t, v = spec["t"], spec.get("v")
    if t == "plain" and (v is None or isinstance(v, bool) or (isinstance(v, str) and len(v) <= MAX_STR)):
        return v
    if t == "int" and isinstance(v, str) and len(v) <= MAX_INT_DIGITS and re.fullmatch(r"-?\d+", v):
        return int(v)
    if t == "float":
        return _float(v)
    if t == "complex" and isinstance(v, list) and len(v) == 2:
        return complex(_float(v[0]), _float(v[1]))
    items = spec.get("items")
    if t in ("tuple", "list") and isinstance(items, list):
        out = [_decode(x, store, depth + 1, budget, trusted) for x in items]
        return tuple(out) if t == "tuple" else out
    if t == "dict" and isinstance(items, list):
        if not all(isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)
                   and len(kv[0]) <= MAX_STR for kv in items):
            raise DecodeError("malformed dict item")
        return {k: _decode(x, store, depth + 1, budget, trusted) for k, x in items}
    if t == "unsupported":
        return UnsupportedValue(spec.get("type") if isinstance(spec.get("type"), str) else "unknown")
    if t in ("ndarray", "npscalar"):
        arr = _load_array(spec.get("file"), store, budget, trusted)
        if t == "npscalar":
            if arr.ndim != 0:
                raise DecodeError("malformed scalar")
            return arr[()]
        layout = spec.get("layout") if trusted else None
        if layout:
            arr = np.ndarray(tuple(layout["shape"]), dtype=np.dtype(layout["dtype"]), buffer=arr,
                             offset=layout["offset"], strides=tuple(layout["strides"]))
        if trusted and spec.get("writeable") is False:
            arr.flags.writeable = False
        return arr
    raise DecodeError(f"malformed value of type {t[:20]!r}")


def _float(v):
    if not isinstance(v, str) or len(v) > 40:
        raise DecodeError("malformed float")
    try:
        return float(v)
    except ValueError:
        raise DecodeError("malformed float") from None


def _load_array(name, store, budget, trusted):
    import numpy as np
    if not isinstance(name, str) or not NAME_RE.match(name) or not name.endswith(".npy"):
        raise DecodeError("malformed array reference")
    if name not in store:
        raise DecodeError("array missing")
    fh, size = io.BytesIO(store[name]), len(store[name])
    with fh:
        if trusted:
            arr = np.load(fh, allow_pickle=False)
        else:
            budget[1] += size
            if size > MAX_ARRAY_BYTES + 4096 or budget[1] > MAX_RESULT_BYTES:
                raise DecodeError("returned array too large")
            arr = _read_npy_strict(fh, size)
    if type(arr) is not np.ndarray or arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields:
        raise DecodeError("array of a non-numeric dtype")
    return arr


def _read_npy_strict(fh, size):
    """An untrusted .npy parsed by hand: numeric dtype, data size matching the header."""
    import numpy as np
    from numpy.lib import format as npf
    try:
        version = npf.read_magic(fh)
        read = {(1, 0): npf.read_array_header_1_0, (2, 0): npf.read_array_header_2_0}[version]
        shape, fortran, dtype = read(fh)
    except Exception as exc:
        raise DecodeError(f"unreadable array header ({type(exc).__name__})") from None
    if (dtype.kind not in NUMERIC_KINDS or dtype.fields or dtype.hasobject or dtype.subdtype
            or len(shape) > 32 or not all(isinstance(n, int) and 0 <= n <= MAX_ARRAY_BYTES for n in shape)):
        raise DecodeError("array of a non-numeric dtype or a bad shape")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize > MAX_ARRAY_BYTES or size - fh.tell() != count * dtype.itemsize:
        raise DecodeError("array data does not match its header")
    flat = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


# ------------------------------------------------------------------------------ jail side
def encode_result(obj, prefix, blobs, counter=None):
    """What the student returned as a tree; arrays go into `blobs` (name -> .npy bytes)."""
    import numpy as np
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise ValueError("result too large")
    plain = _plain(obj) if type(obj) in (type(None), bool, str, int, float, complex) else None
    if plain is not None:
        return plain
    tp = type(obj)
    if tp is tuple or tp is list:
        return {"t": tp.__name__, "items": [encode_result(x, prefix, blobs, counter) for x in obj]}
    if tp is dict and all(type(k) is str for k in obj):
        return {"t": "dict", "items": [[k, encode_result(v, prefix, blobs, counter)] for k, v in obj.items()]}
    is_scalar = isinstance(obj, np.generic) and tp.__module__ == "numpy"
    if (tp is np.ndarray or is_scalar) and obj.dtype.kind in NUMERIC_KINDS and not obj.dtype.fields:
        if obj.nbytes > MAX_ARRAY_BYTES:
            return {"t": "unsupported", "type": f"ndarray of {obj.nbytes} bytes (too large)"}
        name = f"{prefix}_{counter[0]}.npy"
        blobs[name] = npy_bytes(np.asarray(obj))
        return {"t": "npscalar" if is_scalar else "ndarray", "file": name}
    try:
        name = tp.__name__ if isinstance(tp.__name__, str) else "object"
    except Exception:
        name = "object"
    return {"t": "unsupported", "type": name[:80]}


def frame_header(name: str, size: int) -> bytes:
    """The head of one message on the jail's result pipe: ``name size\\n``, then `size` bytes."""
    return f"{name} {size}\n".encode()


class FrameReader:
    """The trusted side of the result pipe: frames by name, within a byte budget.

    A frame named ``start.<prefix>`` forgets every earlier frame whose name starts with
    ``<prefix>_`` (results planted before a check started do not count). Reading is linear in
    the bytes received (a frame's pieces are joined once), so a large result costs the same
    whatever this process's malloc settings (MALLOC_TRIM_THRESHOLD_ made the old
    ``buf += chunk`` copy and page-fault the whole buffer per chunk).
    """

    def __init__(self, budget=MAX_RESULT_BYTES):
        self.frames, self.left, self.broken = {}, budget, ""
        self._head, self._name, self._need, self._parts = b"", None, 0, []

    def feed(self, chunk: bytes) -> None:
        pos = 0
        while pos < len(chunk) and not self.broken:
            if self._name is None:
                end = chunk.find(b"\n", pos)
                self._head += chunk[pos:len(chunk) if end < 0 else end]
                if len(self._head) > 200:
                    self.broken = "malformed frame header"
                if end < 0 or self.broken:
                    return
                pos = end + 1
                parts = self._head.decode("ascii", "replace").split(" ")
                self._head = b""
                if len(parts) != 2 or not NAME_RE.match(parts[0]) or not parts[1].isdigit():
                    self.broken = "malformed frame header"
                elif int(parts[1]) > self.left:
                    self.broken = "results too large"
                else:
                    self._name, self._need, self._parts = parts[0], int(parts[1]), []
                    self.left -= self._need
                continue
            piece = chunk[pos:pos + self._need]
            pos, self._need = pos + len(piece), self._need - len(piece)
            self._parts.append(piece)
            if not self._need:
                self._store()
        if self._name is not None and not self._need:  # a header of size 0 at the chunk's end
            self._store()

    def _store(self) -> None:
        name, data, self._name, self._parts = self._name, b"".join(self._parts), None, []
        if name.startswith("start."):
            prefix = name[len("start."):] + "_"
            self.frames = {k: v for k, v in self.frames.items() if not k.startswith(prefix)}
        self.frames[name] = data

    def json(self, name):
        """The JSON object of frame `name`, or None (missing, too large or malformed)."""
        import json
        data = self.frames.get(name)
        if data is None or len(data) > MAX_JSON_BYTES:
            return None
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            return None
        return obj if isinstance(obj, dict) else None
