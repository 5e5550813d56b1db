"""Tests for cnnlib._validate: the shared argument checks and their messages."""
import numpy as np
import pytest

from cnnlib._validate import as_pair, check_array, check_int, check_same_shape, float_dtype


@pytest.mark.parametrize("value", [0, 3, np.int64(5), np.int8(2)])
def test_check_int_accepts_python_and_numpy_ints(value):
    out = check_int(value, "f", "n", minimum=0)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value, kind", [(2.0, "float"), (True, "bool"), ("3", "str"),
                                         (None, "NoneType"), (np.float32(1), "float32")])
def test_check_int_refuses_other_types(value, kind):
    with pytest.raises(TypeError, match=rf"^f: n must be an int >= 1, got {kind}"):
        check_int(value, "f", "n", minimum=1)


def test_check_int_below_minimum():
    with pytest.raises(ValueError, match=r"^conv2d: stride must be an int >= 1, got 0$"):
        check_int(0, "conv2d", "stride", minimum=1)


@pytest.mark.parametrize("value, expected", [(2, (2, 2)), ((1, 3), (1, 3)), ([0, 2], (0, 2)),
                                             ((np.int64(4), 5), (4, 5))])
def test_as_pair(value, expected):
    out = as_pair(value, "f", "padding", minimum=0)
    assert out == expected and all(type(v) is int for v in out)


@pytest.mark.parametrize("value, exc, pattern", [
    (-1, ValueError, r"f: padding must be an int >= 0 or a pair \(h, w\) of them, got -1"),
    ((1, -2), ValueError, r"got \(1, -2\)"),
    ((1, 2, 3), ValueError, r"length 3"),
    ((1.0, 2), TypeError, r"got \(1\.0, 2\) \(float, int\)"),
    (1.5, TypeError, r"got float 1\.5"),
    ("2", TypeError, r"got str '2'"),
    (None, TypeError, r"got NoneType None"),
    (True, TypeError, r"got bool True"),
])
def test_as_pair_errors(value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        as_pair(value, "f", "padding", minimum=0)


def test_check_array_returns_the_same_array():
    x = np.zeros((2, 3))
    assert check_array(x, "f", "x", ndim=2) is x


@pytest.mark.parametrize("x, pattern", [
    ([[1.0, 2.0]], r"^f: x must be a numpy array, got list$"),
    (3.0, r"^f: x must be a numpy array, got float$"),
    (np.zeros((2, 2), bool), r"integer or float dtype, got dtype bool"),
    (np.zeros((2, 2), complex), r"integer or float dtype, got dtype complex128"),
    (np.array([[None, 1]]), r"integer or float dtype, got dtype object"),
])
def test_check_array_type_errors(x, pattern):
    with pytest.raises(TypeError, match=pattern):
        check_array(x, "f", "x", ndim=2)


def test_check_array_wrong_ndim_names_layout_and_shape():
    with pytest.raises(ValueError, match=r"^conv2d: x must be a 4-D array \(N, C, H, W\), "
                                         r"got a 3-D array of shape \(3, 5, 5\)$"):
        check_array(np.zeros((3, 5, 5)), "conv2d", "x", ndim=4, layout="(N, C, H, W)")


def test_check_array_empty():
    with pytest.raises(ValueError, match=r"x must not be empty, got shape \(0, 3\)"):
        check_array(np.zeros((0, 3)), "f", "x", ndim=2)


def test_check_same_shape():
    check_same_shape(np.zeros((2, 3)), (2, 3), "f", "dout")
    with pytest.raises(ValueError, match=r"^f: dout must have shape \(2, 4\) \(why\), got \(2, 3\)$"):
        check_same_shape(np.zeros((2, 3)), (2, 4), "f", "dout", "why")


@pytest.mark.parametrize("dtypes, expected", [
    ((np.float32,), np.float32), ((np.float64,), np.float64), ((np.int64,), np.float64),
    ((np.uint8,), np.float64), ((np.float32, np.float64), np.float64),
    ((np.float32, np.float32), np.float32), ((np.int32, np.float32), np.float64),
])
def test_float_dtype(dtypes, expected):
    arrays = [np.zeros(1, d) for d in dtypes] + [None]
    assert float_dtype(*arrays) == np.dtype(expected)


def test_check_number_type_and_value_errors():
    from cnnlib._validate import check_number
    assert check_number(np.float32(0.5), "f", "lr", 0) == 0.5
    with pytest.raises(TypeError, match=r"^f: lr must be a number > 0, got NoneType None$"):
        check_number(None, "f", "lr", 0)
    with pytest.raises(ValueError, match=r"^f: lr must be a number > 0, got nan$"):
        check_number(float("nan"), "f", "lr", 0)


def test_check_float_dtype_finite_generator_and_shape():
    from cnnlib._validate import as_generator, check_finite, check_float_dtype, check_shape
    assert check_float_dtype("float32", "f") == np.float32
    with pytest.raises(TypeError, match=r"^f: dtype must be np.float32 or np.float64, got int32$"):
        check_float_dtype(np.int32, "f")
    with pytest.raises(ValueError, match=r"^f: x must be finite, got inf \(in 1 of 2 values\); hint$"):
        check_finite(np.array([1.0, np.inf]), "f", "x", "; hint")
    assert isinstance(as_generator(None, "f"), np.random.Generator)
    with pytest.raises(TypeError, match=r"^f: rng must be a numpy Generator .*got int$"):
        as_generator(0, "f")
    assert check_shape([2, np.int64(3)], "f", "s", "(N, C)") == (2, 3)
    with pytest.raises(ValueError, match=r"^f: s must be a tuple of 2 ints >= 1 \(N, C\), got \(2, 0\)$"):
        check_shape((2, 0), "f", "s", "(N, C)")


def test_a_padding_too_large_for_memory_is_named_before_numpy_allocates():
    import cnnlib
    x, w = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))
    for conv in (cnnlib.conv2d, cnnlib.conv2d_naive, cnnlib.conv2d_im2col):
        with pytest.raises(MemoryError, match=rf"^{conv.__name__}: padding=100000 makes an output \(N, K, H_out, "
                                              r"W_out\) = \(2, 4, 200003, 200003\) of 320,009,600,072 values "
                                              r"\(2,560 GB\), more than this machine's memory \(.*; padding P "
                                              r"is usually at most F - 1$"):
            conv(x, w, padding=10**5)


def test_the_memory_check_uses_the_machine_memory(monkeypatch):
    import cnnlib
    from cnnlib import _validate
    x, w = np.ones((1, 1, 100, 100)), np.ones((1, 1, 3, 3))
    monkeypatch.setattr(_validate, "_MEMORY", [50_000])        # 50 kB of RAM
    with pytest.raises(MemoryError, match=r"^conv2d: padding=3 makes a padded input of 11,236 values "
                                          r"\(9e-05 GB\), more than this machine's memory \(5e-05 GB\); padding P "
                                          r"is usually at most F - 1$"):
        cnnlib.conv2d(x, w, padding=3)
    with pytest.raises(MemoryError, match=r"^conv2d: x.shape=\(1, 1, 100, 100\) and w.shape=\(1, 1, 3, 3\) make "
                                          r"a padded input of 10,000 values \(8e-05 GB\), .*\(5e-05 GB\)$"):
        cnnlib.conv2d(x, w)
    monkeypatch.setattr(_validate, "_MEMORY", [None])         # unknown: no check
    assert cnnlib.conv2d(x, w, padding=3).shape == (1, 1, 104, 104)
    monkeypatch.setattr(_validate, "_MEMORY", [50_000])
    x64 = np.ones((1, 1, 100, 70))                              # 7,000 values: 56 kB in float64
    with pytest.raises(MemoryError):
        cnnlib.conv2d(x64, w)
    x32, w32 = x64.astype(np.float32), w.astype(np.float32)      # 28 kB in float32: fits
    assert cnnlib.conv2d(x32, w32).shape == (1, 1, 98, 68)
