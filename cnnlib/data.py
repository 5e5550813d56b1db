"""Offline data sets: scikit-learn's 8x8 digits, synthetic shapes, matplotlib's sample photo."""
import functools
import numbers

import numpy as np

SHAPE_CLASSES = ("bar", "cross", "circle", "square")


def load_digits(test_size=0.25, seed=0):
    """The 8x8 handwritten digits bundled with scikit-learn, split into train and test.

    Parameters
    ----------
    test_size : float
        Fraction of the 1,797 images held out for testing, in (0, 1).
    seed : int
        Seed of the stratified split (the default gives the course's fixed split).

    Returns
    -------
    x_train : ndarray float32 (N_train, 1, 8, 8), values in [0, 1]
    y_train : ndarray int64 (N_train,), digits 0-9
    x_test : ndarray float32 (N_test, 1, 8, 8)
    y_test : ndarray int64 (N_test,)
    """
    if not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ValueError(f"load_digits: test_size must be a fraction in (0, 1), got {test_size!r}")
    return tuple(a.copy() for a in _split_digits(float(test_size), seed))


@functools.lru_cache(maxsize=4)
def _split_digits(test_size, seed):
    """The split itself, cached (load_digits returns copies, so callers may modify them)."""
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    digits = _sk_load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y)
    return x_train, y_train, x_test, y_test


def _draw_bar(img, rng, scale):
    """A horizontal or vertical bar two pixels thick; returns nothing, draws into img."""
    size = img.shape[0]
    length = int(rng.integers(max(3, round(6 * scale)), min(size, round(14 * scale)) + 1))
    r0 = rng.integers(0, size - 1)
    c0 = rng.integers(0, size - length + 1)
    if rng.random() < 0.5:
        img[r0:r0 + 2, c0:c0 + length] = 1
    else:
        img[c0:c0 + length, r0:r0 + 2] = 1


def _draw_cross(img, rng, scale):
    """A plus sign with arms of random half-length a (4a + 1 pixels)."""
    size = img.shape[0]
    a = int(rng.integers(2, max(2, min((size - 1) // 2, round(7 * scale))) + 1))
    cy, cx = rng.integers(a, size - a, size=2)
    img[cy, cx - a:cx + a + 1] = 1
    img[cy - a:cy + a + 1, cx] = 1


def _draw_circle(img, rng, scale):
    """A one-pixel ring of random radius r around a random (sub-pixel) centre."""
    size = img.shape[0]
    r = rng.uniform(2.5, max(2.5, min(4 * scale, size / 2 - 1)))
    cy, cx = rng.uniform(r, size - 1 - r, size=2)
    yy, xx = np.mgrid[0:size, 0:size]
    img[np.abs(np.hypot(yy - cy, xx - cx) - r) < 0.5] = 1


def _draw_square(img, rng, scale):
    """The outline of an s x s square (4s - 4 pixels)."""
    size = img.shape[0]
    s = int(rng.integers(4, max(4, min(size, round(8 * scale))) + 1))
    r0, c0 = rng.integers(0, size - s + 1, size=2)
    img[r0:r0 + s, c0:c0 + s] = 1
    img[r0 + 1:r0 + s - 1, c0 + 1:c0 + s - 1] = 0


_DRAW = (_draw_bar, _draw_cross, _draw_circle, _draw_square)


def make_shapes(n, size=16, noise=0.1, rng=None):
    """Synthetic images of bars, crosses, circles and squares (4 balanced classes).

    Each image holds one white shape outline at a random position and size on a black
    background, plus Gaussian noise, clipped to [0, 1]. The shapes are drawn with similar
    numbers of pixels (about 10 to 30 at size 16), so counting bright pixels does not tell
    them apart: the label needs the spatial arrangement.

    Parameters
    ----------
    n : int
        Number of images (classes are balanced: counts differ by at most one).
    size : int
        Image side, at least 8.
    noise : float
        Standard deviation of the added Gaussian noise, >= 0.
    rng : np.random.Generator or None
        Source of randomness (default: np.random.default_rng(0)).

    Returns
    -------
    x : ndarray float32 (n, 1, size, size), values in [0, 1]
    y : ndarray int64 (n,), indices into SHAPE_CLASSES = ("bar", "cross", "circle", "square")
    """
    for name, value, low in (("n", n, 1), ("size", size, 8)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"make_shapes: {name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"make_shapes: {name} must be >= {low}, got {value}")
    if not isinstance(noise, numbers.Real) or noise < 0:
        raise ValueError(f"make_shapes: noise must be a float >= 0, got {noise!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    y = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    x = np.zeros((n, 1, size, size), dtype=np.float32)
    for i, label in enumerate(y):
        _DRAW[label](x[i, 0], rng, size / 16)
    if noise > 0:
        x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    return np.clip(x, 0, 1, out=x), y


def load_photo(size=None):
    """Matplotlib's sample photo of Grace Hopper, in grayscale.

    Parameters
    ----------
    size : int or None
        None keeps the full 600 x 512 image; an int is the height of a downsampled copy
        (area averaging), the width following the aspect ratio.

    Returns
    -------
    photo : ndarray float64 (H, W), values in [0, 1]
    """
    from matplotlib import cbook
    from PIL import Image

    if size is not None and (not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 2):
        raise ValueError(f"load_photo: size must be None or an int >= 2, got {size!r}")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = Image.open(f).convert("L")
        if size is not None:
            width = max(1, round(img.width * size / img.height))
            img = img.resize((width, size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float64) / 255.0
