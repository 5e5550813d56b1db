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


# --------------------------------------------------------------------------- parts and objects
from scipy import ndimage  # noqa: E402  (the test oracle for connected strokes)

from cnnlib import OBJECT_CLASSES, PART_CLASSES, draw_scene, make_objects, make_parts, part_patch  # noqa: E402
from cnnlib.data import OBJECT_PARTS  # noqa: E402


@pytest.mark.parametrize("arm", [3, 5, 7])
@pytest.mark.parametrize("rotation", [0, 1, 2, 3])
def test_part_patches_are_two_strokes_that_meet_in_different_places(arm, rotation):
    patches = [part_patch(p, arm, rotation) for p in range(3)]
    for patch in patches:
        assert patch.shape == (arm, arm) and patch.dtype == np.float32
        assert patch.sum() == 2 * arm - 1                 # same ink: two strokes sharing one pixel
        assert sorted([int((patch.sum(axis=1) == arm).sum()), int((patch.sum(axis=0) == arm).sum())]) == [1, 1]
        assert ndimage.label(patch)[1] == 1               # one connected piece
        # same edges: as many horizontal as vertical stroke pixels
        assert patch.sum(axis=0).max() == patch.sum(axis=1).max() == arm
    assert not np.array_equal(patches[0], patches[1]) and not np.array_equal(patches[1], patches[2])
    # pixels with 3 and 4 neighbours: none in a corner, one in a tee, one in a cross
    neighbours = [ndimage.convolve(p, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32),
                                   mode="constant") * p for p in patches]
    assert [int((n >= 3).sum()) for n in neighbours] == [0, 1, 1]
    assert [int((n == 4).sum()) for n in neighbours] == [0, 0, 1]


def test_part_patch_errors():
    with pytest.raises(ValueError, match="part_patch: part must be 0, 1 or 2"):
        part_patch(3)
    with pytest.raises(ValueError, match="part_patch: arm must be an odd int >= 3, got 4"):
        part_patch(0, arm=4)


def test_make_objects_shapes_range_balance_and_determinism():
    x, y = make_objects(61, rng=np.random.default_rng(0))
    assert x.shape == (61, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (61,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    counts = np.bincount(y, minlength=3)
    assert counts.max() - counts.min() <= 1
    assert OBJECT_CLASSES == ("corner+tee", "corner+cross", "tee+cross") and PART_CLASSES == ("corner", "tee", "cross")
    again = make_objects(61, rng=np.random.default_rng(0))
    other = make_objects(61, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(x, again[0])
    assert not np.array_equal(x, other[0])


def test_every_part_is_in_two_objects_and_no_object_is_one_part():
    for part in range(3):
        assert sum(part in pair for pair in OBJECT_PARTS) == 2
    assert len(set(OBJECT_PARTS)) == 3 and all(a != b for a, b in OBJECT_PARTS)


def test_objects_hold_their_two_parts_and_clutter_never_touches_them():
    x, y, parts = make_objects(60, size=28, clutter=3, noise=0.0, rng=np.random.default_rng(4),
                               return_parts=True)
    n_clutter = []
    for img, label, described in zip(x[:, 0], y, parts):
        assert sorted(p for (p, _, _), _ in described) == sorted(OBJECT_PARTS[label])
        ink = img > 0
        for (part, arm, rotation), (top, left) in described:
            patch = part_patch(part, arm, rotation) > 0
            np.testing.assert_array_equal(ink[top:top + arm, left:left + arm], patch)
        labelled, count = ndimage.label(ink, structure=np.ones((3, 3)))   # 8-connected pieces
        sizes = np.bincount(labelled.ravel())[1:]
        part_sizes = sorted(2 * arm - 1 for (_, arm, _), _ in described)
        loose = sorted(sizes)
        for s in part_sizes:
            loose.remove(s)                       # each part is one piece of its own
        assert all(3 <= s <= 6 for s in loose), sizes   # everything else: loose strokes
        n_clutter.append(len(loose))
    assert min(n_clutter) == 0 and max(n_clutter) >= 5   # 0 to 2 * clutter loose strokes


def test_objects_cannot_be_told_by_ink_or_orientation():
    x, y = make_objects(600, noise=0.0, rng=np.random.default_rng(5))
    ink = x.reshape(len(x), -1).sum(axis=1)
    medians = [np.median(ink[y == k]) for k in range(3)]
    assert max(medians) / min(medians) < 1.1
    horizontal = (x[:, 0, :, 1:] * x[:, 0, :, :-1]).sum(axis=(1, 2))   # pairs of ink side by side
    vertical = (x[:, 0, 1:, :] * x[:, 0, :-1, :]).sum(axis=(1, 2))
    ratio = [np.mean(horizontal[y == k]) / np.mean(vertical[y == k]) for k in range(3)]
    assert all(0.85 < r < 1.15 for r in ratio), ratio


def test_make_parts_labels_and_draw_scene_positions():
    x, y = make_parts(30, noise=0.0, clutter=0, rng=np.random.default_rng(6))
    assert x.shape == (30, 1, 28, 28) and np.bincount(y).tolist() == [10, 10, 10]
    for img, label in zip(x[:, 0], y):
        on = img > 0
        assert ndimage.label(on, structure=np.ones((3, 3)))[1] == 1
        assert on.sum() in (9, 13)                          # arm 5 or 7: 2 * arm - 1 pixels
    img, where = draw_scene([(2, 5, 0)], size=24, clutter=0, noise=0.0, positions=[(3, 4)])
    assert where == [(3, 4)] and img.shape == (24, 24)
    assert np.array_equal(img[3:8, 4:9] > 0, part_patch(2, 5) > 0) and (img > 0).sum() == 9


def test_make_objects_errors():
    with pytest.raises(ValueError, match="make_objects: size must be >= 20, got 12"):
        make_objects(4, size=12)
    with pytest.raises(TypeError, match="make_parts: n must be an int, got float"):
        make_parts(2.0)
    with pytest.raises(ValueError, match="make_objects: noise must be a float >= 0"):
        make_objects(4, noise=-0.1)
    with pytest.raises(ValueError, match="draw_scene: no room for 40 parts"):
        draw_scene([(0, 7, 0)] * 40, size=28)


@pytest.mark.parametrize("seed, came", [("a", "str 'a'"), (1.5, "float 1.5"), (None, "NoneType None")])
def test_load_digits_checks_the_seed(seed, came):
    with pytest.raises(TypeError, match=rf"^load_digits: seed must be an int >= 0, got {came}$"):
        load_digits(seed=seed)


@pytest.mark.parametrize("make", [make_shapes, make_objects, make_parts])
def test_generators_name_a_bad_rng_and_nan_noise(make):
    with pytest.raises(TypeError, match=rf"^{make.__name__}: rng must be a numpy Generator"):
        make(4, rng=0)
    with pytest.raises(ValueError, match=rf"^{make.__name__}: noise must be a float >= 0, got nan$"):
        make(4, noise=float("nan"))


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(positions=[(25, 25)]), ValueError, r"positions\[0\] must be \(top, left\) with 0 <= top, left "
                                             r"<= size - arm = 23, .*got \(25, 25\)"),
    (dict(positions=[(-2, 0)]), ValueError, r"positions\[0\] must be \(top, left\)"),
    (dict(positions=[]), ValueError, r"positions must hold one \(top, left\) per part \(1\), got \[\]"),
    (dict(size=4), ValueError, r"parts\[0\] has arm=5, larger than the image \(size=4\)"),
    (dict(noise=-1), ValueError, r"noise must be a float >= 0, got -1"),
    (dict(rng=3), TypeError, r"rng must be a numpy Generator"),
])
def test_draw_scene_checks_its_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=rf"^draw_scene: {pattern}"):
        draw_scene([(0, 5, 0)], **kwargs)


def test_draw_scene_checks_each_part():
    with pytest.raises(TypeError, match=r"^draw_scene: parts\[0\] must be a \(part, arm, rotation\) triple, got 5$"):
        draw_scene([5])
    with pytest.raises(ValueError, match=r"^draw_scene: parts\[0\] = \(0, 4, 0\): arm must be an odd int >= 3, got 4$"):
        draw_scene([(0, 4, 0)])


@pytest.mark.parametrize("args, exc, pattern", [
    ((1.0,), TypeError, r"^part_patch: part must be 0, 1 or 2 \(an index into PART_CLASSES\), got float 1.0$"),
    ((True,), TypeError, r"^part_patch: part must be 0, 1 or 2 .*got bool True$"),
    ((0, 5, "a"), TypeError, r"^part_patch: rotation must be an int 0-3 \(quarter turns counter-clockwise\), "
                             r"got str 'a'$"),
    ((0, 5, None), TypeError, r"^part_patch: rotation must be an int 0-3 .*got NoneType None$"),
    ((0, 5, 1.5), TypeError, r"^part_patch: rotation must be an int 0-3 .*got float 1.5$"),
    ((0, 5, 4), ValueError, r"^part_patch: rotation must be an int 0-3 .*got 4$"),
])
def test_part_patch_names_the_type_of_a_wrong_part_or_rotation(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        part_patch(*args)


def test_draw_scene_refuses_a_fractional_rotation_instead_of_truncating_it():
    with pytest.raises(TypeError, match=r"^draw_scene: parts\[0\] = \(0, 5, 1.5\): rotation must be an int 0-3"):
        draw_scene([(0, 5, 1.5)])


def test_load_photo_does_not_upsample():
    with pytest.raises(ValueError, match=r"^load_photo: size must be at most the photo's height 600 "):
        load_photo(10000)
    assert load_photo(600).shape == (600, 512)
