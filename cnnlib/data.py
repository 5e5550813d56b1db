"""Offline data sets: scikit-learn's 8x8 digits, synthetic shapes, objects made of parts, a photo."""
import functools
import numbers

import numpy as np

from ._validate import as_generator, check_int

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
    seed = check_int(seed, "load_digits", "seed", 0)
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
    _check_noise("make_shapes", noise)
    rng = as_generator(rng, "make_shapes")
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
        None keeps the full 600 x 512 image; an int from 2 to 600 is the height of a
        downsampled copy (area averaging), the width following the aspect ratio.

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
        if size is not None and size > img.height:
            raise ValueError(f"load_photo: size must be at most the photo's height {img.height} "
                             f"(size downsamples; None keeps the full image), got {size}")
        if size is not None:
            width = max(1, round(img.width * size / img.height))
            img = img.resize((width, size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float64) / 255.0


# --------------------------------------------------------------------------- parts and objects
PART_CLASSES = ("corner", "tee", "cross")
OBJECT_CLASSES = ("corner+tee", "corner+cross", "tee+cross")
OBJECT_PARTS = ((0, 1), (0, 2), (1, 2))    # the two part types of each object class


def part_patch(part, arm=5, rotation=0):
    """One part as an (arm, arm) array of 0 and 1: a horizontal and a vertical stroke that meet.

    Every part is the same two strokes, each `arm` pixels long and one pixel wide, sharing one
    pixel; only WHERE they meet differs: at their ends (corner, an L), at the end of one and the
    middle of the other (tee, a T) or at both middles (cross, a +). So every part has the same
    ink and the same edges; telling them apart needs the conjunction of two strokes.

    Parameters
    ----------
    part : int, index into PART_CLASSES = ("corner", "tee", "cross")
    arm : int, odd, >= 3
    rotation : int, quarter turns counter-clockwise, 0 to 3

    Returns
    -------
    patch : ndarray float32 (arm, arm)
    """
    if not _is_int(part) or part not in (0, 1, 2):
        raise (ValueError if _is_int(part) else TypeError)(
            f"part_patch: part must be 0, 1 or 2 (an index into PART_CLASSES), got {_got(part)}")
    if not isinstance(arm, numbers.Integral) or isinstance(arm, bool) or arm < 3 or arm % 2 == 0:
        raise ValueError(f"part_patch: arm must be an odd int >= 3, got {arm!r}")
    if not _is_int(rotation) or not 0 <= rotation <= 3:
        raise (ValueError if _is_int(rotation) else TypeError)(
            f"part_patch: rotation must be an int 0-3 (quarter turns counter-clockwise), got {_got(rotation)}")
    patch = np.zeros((arm, arm), np.float32)
    row, col = [(0, 0), (0, arm // 2), (arm // 2, arm // 2)][part]
    patch[row, :] = 1                         # the horizontal stroke
    patch[:, col] = 1                         # the vertical stroke
    return np.rot90(patch, int(rotation)).copy()


def _is_int(value):
    """True for Python and NumPy integers, False for bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _got(value):
    """``value`` for a message: its type too when it is not an int (1.0 and '1' look alike)."""
    return repr(value) if _is_int(value) else f"{type(value).__name__} {value!r}"


def _free(occupied, top, left, h, w, gap):
    """True when the box (top, left, h, w) grown by `gap` pixels touches nothing occupied."""
    return not occupied[max(top - gap, 0):top + h + gap, max(left - gap, 0):left + w + gap].any()


def _place(occupied, rng, h, w, gap, tries=200):
    """A random free (top, left) for an h x w box, marked as occupied; None when none was found."""
    size = occupied.shape[0]
    for _ in range(tries):
        top, left = (int(v) for v in rng.integers(0, [size - h + 1, size - w + 1]))
        if _free(occupied, top, left, h, w, gap):
            occupied[top:top + h, left:left + w] = True
            return top, left
    return None


def draw_scene(parts, size=28, clutter=4, noise=0.08, rng=None, positions=None):
    """One image: the given parts at random free places, loose strokes as clutter, and noise.

    Parameters
    ----------
    parts : sequence of (part, arm, rotation) triples, see part_patch
    size : int, image side
    clutter : int, number of loose strokes (horizontal or vertical, 3 to 6 pixels long), each
        at least 2 pixels from everything else, so that none of them makes a junction
    noise : float, standard deviation of the Gaussian pixel noise
    rng : np.random.Generator or None (default: np.random.default_rng(0))
    positions : sequence of (top, left) or None
        Where to put each part (None: random places at least 2 pixels apart).

    Returns
    -------
    img : ndarray float32 (size, size), values in [0, 1]
    positions : list of (top, left), one per part
    """
    _check_parts(parts, size, clutter, noise, positions)
    rng = as_generator(rng, "draw_scene")
    img = np.zeros((size, size), np.float32)
    occupied = np.zeros((size, size), bool)
    placed = []
    for k, (part, arm, rotation) in enumerate(parts):
        if positions is None:
            where = _place(occupied, rng, arm, arm, gap=2)
            if where is None:
                raise ValueError(f"draw_scene: no room for {len(parts)} parts in a {size}x{size} image")
        else:
            where = tuple(int(v) for v in positions[k])
            occupied[where[0]:where[0] + arm, where[1]:where[1] + arm] = True
        top, left = where
        img[top:top + arm, left:left + arm] = np.maximum(img[top:top + arm, left:left + arm],
                                                         part_patch(part, arm, rotation))
        placed.append(where)
    for _ in range(clutter):
        length = int(rng.integers(3, 7))
        h, w = (1, length) if rng.random() < 0.5 else (length, 1)
        where = _place(occupied, rng, h, w, gap=2, tries=50)
        if where is not None:
            img[where[0]:where[0] + h, where[1]:where[1] + w] = 1
    img *= rng.uniform(0.7, 1.0)              # contrast varies from image to image
    img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 1, out=img), placed


def _check_scene_args(func, n, size, clutter, noise):
    for name, value, low in (("n", n, 1), ("size", size, 20), ("clutter", clutter, 0)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{func}: {name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{func}: {name} must be >= {low}, got {value}")
    _check_noise(func, noise)


def _check_noise(func, noise):
    """noise: a finite real number >= 0 (NaN would make every pixel NaN)."""
    if not isinstance(noise, numbers.Real) or isinstance(noise, bool) or not 0 <= noise < np.inf:
        raise ValueError(f"{func}: noise must be a float >= 0, got {noise!r}")


def _check_parts(parts, size, clutter, noise, positions):
    """draw_scene's arguments: (part, arm, rotation) triples that fit, positions on the image."""
    check_int(size, "draw_scene", "size", 1)
    check_int(clutter, "draw_scene", "clutter", 0)
    _check_noise("draw_scene", noise)
    if not isinstance(parts, (list, tuple)):
        raise TypeError(f"draw_scene: parts must be a list of (part, arm, rotation) triples, "
                        f"got {type(parts).__name__}")
    if positions is not None and (not isinstance(positions, (list, tuple)) or len(positions) != len(parts)):
        raise ValueError(f"draw_scene: positions must hold one (top, left) per part ({len(parts)}), "
                         f"got {positions!r}")
    for k, triple in enumerate(parts):
        if not isinstance(triple, (list, tuple)) or len(triple) != 3:
            raise TypeError(f"draw_scene: parts[{k}] must be a (part, arm, rotation) triple, got {triple!r}")
        arm = triple[1]
        try:
            part_patch(*triple)                # checks part, arm and rotation
        except (ValueError, TypeError) as e:
            why = str(e).removeprefix("part_patch: ")
            raise type(e)(f"draw_scene: parts[{k}] = {triple!r}: {why}") from None
        if arm > size:
            raise ValueError(f"draw_scene: parts[{k}] has arm={arm}, larger than the image (size={size})")
        if positions is not None:
            where = positions[k]
            if (not isinstance(where, (list, tuple)) or len(where) != 2
                    or not all(isinstance(v, numbers.Integral) and 0 <= v <= size - arm for v in where)):
                raise ValueError(f"draw_scene: positions[{k}] must be (top, left) with 0 <= top, left "
                                 f"<= size - arm = {size - arm}, so that the part lies on the image; "
                                 f"got {where!r}")


def _random_part(rng, part):
    """(part, arm, rotation) with a random odd arm of 5 or 7 pixels and a random rotation."""
    return int(part), int(rng.choice([5, 7])), int(rng.integers(0, 4))


def _clutter_count(rng, clutter):
    """How many loose strokes: uniform from 0 to 2 * clutter (mean `clutter`), so that counting
    stroke ends or ink does not tell the parts apart (a cross has 4 free ends, a corner 2)."""
    return int(rng.integers(0, 2 * clutter + 1))


def make_objects(n, size=28, clutter=4, noise=0.08, rng=None, return_parts=False):
    """Synthetic images of three objects, each the conjunction of two parts, among clutter.

    Object classes (OBJECT_CLASSES) are "corner+tee", "corner+cross" and "tee+cross": every part
    type (PART_CLASSES, see part_patch) belongs to two objects, so no single part tells the
    object, and every part is made of the same two strokes, so no single edge tells the part.
    Parts get a random size (arm 5 or 7 pixels), rotation (quarter turns) and place; loose
    strokes (clutter) add edges of both orientations that belong to no part.

    Parameters
    ----------
    n : int, number of images (classes balanced: counts differ by at most one)
    size : int >= 20, image side
    clutter : int >= 0, loose strokes per image
    noise : float >= 0, standard deviation of the pixel noise
    rng : np.random.Generator or None (default: np.random.default_rng(0))
    return_parts : bool
        Also return the parts of every image (to move them and draw the image again with
        draw_scene).

    Returns
    -------
    x : ndarray float32 (n, 1, size, size), values in [0, 1]
    y : ndarray int64 (n,), indices into OBJECT_CLASSES
    parts : list of n lists of ((part, arm, rotation), (top, left)), only with return_parts
    """
    _check_scene_args("make_objects", n, size, clutter, noise)
    rng = as_generator(rng, "make_objects")
    y = rng.permutation(np.arange(n) % len(OBJECT_CLASSES)).astype(np.int64)
    x = np.zeros((n, 1, size, size), np.float32)
    described = []
    for i, label in enumerate(y):
        parts = [_random_part(rng, p) for p in rng.permutation(OBJECT_PARTS[label])]
        x[i, 0], positions = draw_scene(parts, size, _clutter_count(rng, clutter), noise, rng)
        described.append(list(zip(parts, positions)))
    return (x, y, described) if return_parts else (x, y)


def make_parts(n, size=28, clutter=4, noise=0.08, rng=None):
    """Synthetic images of ONE part each (corner, tee or cross) among the same clutter.

    Same drawing as make_objects, for probing whether a layer tells the parts apart.

    Returns
    -------
    x : ndarray float32 (n, 1, size, size), values in [0, 1]
    y : ndarray int64 (n,), indices into PART_CLASSES
    """
    _check_scene_args("make_parts", n, size, clutter, noise)
    rng = as_generator(rng, "make_parts")
    y = rng.permutation(np.arange(n) % len(PART_CLASSES)).astype(np.int64)
    x = np.zeros((n, 1, size, size), np.float32)
    for i, label in enumerate(y):
        x[i, 0], _ = draw_scene([_random_part(rng, label)], size, _clutter_count(rng, clutter), noise, rng)
    return x, y
