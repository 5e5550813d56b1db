"""Tests for cnnlib.data: digits, synthetic shapes, the sample photo."""
import numpy as np
import pytest

from cnnlib import load_digits, load_photo, make_shapes
from cnnlib.data import SHAPE_CLASSES


def test_load_digits_shapes_dtypes_ranges():
    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))


def test_load_digits_is_deterministic_and_stratified():
    a, b = load_digits(), load_digits()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    test_counts = np.bincount(a[3], minlength=10)
    all_counts = test_counts + np.bincount(a[1], minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * all_counts) <= 1)
    other = load_digits(seed=1)
    assert not np.array_equal(a[1], other[1])


def test_load_digits_rejects_bad_test_size():
    with pytest.raises(ValueError, match="load_digits: test_size must be a fraction in"):
        load_digits(test_size=1.5)


def test_make_shapes_shapes_range_balance():
    x, y = make_shapes(103, size=16, rng=np.random.default_rng(0))
    assert x.shape == (103, 1, 16, 16) and x.dtype == np.float32
    assert y.shape == (103,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    counts = np.bincount(y, minlength=4)
    assert counts.max() - counts.min() <= 1
    assert SHAPE_CLASSES == ("bar", "cross", "circle", "square")


def test_make_shapes_is_deterministic_per_rng():
    a = make_shapes(20, rng=np.random.default_rng(5))
    b = make_shapes(20, rng=np.random.default_rng(5))
    c = make_shapes(20, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_make_shapes_pixel_counts_overlap_across_classes():
    x, y = make_shapes(800, noise=0.0, rng=np.random.default_rng(1))
    ink = x.reshape(len(x), -1).sum(axis=1)
    medians = [np.median(ink[y == k]) for k in range(4)]
    assert max(medians) / min(medians) < 1.3
    lows = [ink[y == k].min() for k in range(4)]
    highs = [ink[y == k].max() for k in range(4)]
    assert max(lows) < min(highs)


def test_make_shapes_positions_vary():
    x, y = make_shapes(200, noise=0.0, rng=np.random.default_rng(2))
    cols = [np.nonzero(img[0].sum(axis=0))[0].mean() for img in x]
    assert np.std(cols) > 1.5


@pytest.mark.parametrize("size", [8, 11, 28])
def test_make_shapes_other_sizes(size):
    x, y = make_shapes(40, size=size, noise=0.0, rng=np.random.default_rng(3))
    assert x.shape == (40, 1, size, size)
    assert np.all(x.reshape(40, -1).sum(axis=1) >= 6)


def test_make_shapes_errors():
    with pytest.raises(ValueError, match="make_shapes: size must be >= 8, got 4"):
        make_shapes(10, size=4)
    with pytest.raises(TypeError, match="make_shapes: n must be an int, got float"):
        make_shapes(10.0)
    with pytest.raises(ValueError, match="make_shapes: noise must be a float >= 0"):
        make_shapes(10, noise=-1)


def test_load_photo_full_and_downsampled():
    photo = load_photo()
    assert photo.shape == (600, 512) and photo.dtype == np.float64
    assert 0.0 <= photo.min() < 0.1 and 0.9 < photo.max() <= 1.0
    small = load_photo(size=60)
    assert small.shape == (60, 51)
    assert abs(small.mean() - photo.mean()) < 0.01
    with pytest.raises(ValueError, match="load_photo: size must be None or an int >= 2"):
        load_photo(size=0)


def test_load_digits_returns_fresh_arrays():
    x_train = load_digits()[0]
    x_train[:] = -1
    assert load_digits()[0].min() == 0.0
