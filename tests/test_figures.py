"""Tests for book/figures.py: what is drawn matches cnnlib.conv2d, and bad input is refused."""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnnlib  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"
sys.path.insert(0, str(BOOK))                      # the chapters import figures from their folder
from figures import plot_conv_step, plot_feature_maps, plot_filters  # noqa: E402
from readable_text import COLUMN_PX, small_texts  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _reference(x, w, stride, padding):
    """cnnlib.conv2d on one channel: (H_out, W_out)."""
    return cnnlib.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


# ----------------------------------------------------------------------------- plot_filters
@pytest.mark.parametrize("shape", [(8, 1, 3, 3), (5, 3, 3), (4, 3, 5, 5), (2, 2, 3, 4)])
def test_plot_filters_returns_the_axes_it_drew_on(shape):
    w = np.random.default_rng(0).normal(size=shape)
    fig, ax = plt.subplots()
    assert plot_filters(w, ax=ax) is ax
    assert len(ax.images) == 1


def test_plot_filters_creates_axes_and_annotates_small_filters():
    w = np.arange(2 * 3 * 3, dtype=float).reshape(2, 1, 3, 3) - 8
    ax = plot_filters(w)
    texts = _texts(ax)
    for v in w.ravel():                       # every weight written in its cell
        assert f"{v:.0f}" in texts
    assert "0" in texts and "1" in texts      # the filter labels


def test_plot_filters_zero_is_mid_grey_and_sign_is_kept():
    w = np.array([[[-2.0, 0.0], [1.0, 2.0]]])
    ax = plot_filters(w, annotate=False, labels=False)
    shown = ax.images[0].get_array()
    finite = shown[np.isfinite(shown)]
    np.testing.assert_allclose(np.sort(finite), [-1.0, 0.0, 0.5, 1.0])
    assert ax.images[0].norm.vmin == -1 and ax.images[0].norm.vmax == 1


def test_plot_filters_labels_sit_inside_the_axes_below_a_title():
    for shape in ((8, 1, 5, 5), (3, 4, 3, 3)):
        fig, ax = plt.subplots()
        plot_filters(np.random.default_rng(0).normal(size=shape), ax=ax, annotate=False)
        ax.set_title("a title")
        fig.canvas.draw()
        title_bottom = ax.title.get_window_extent().y0
        for t in ax.texts:
            if t.get_ha() == "center":                 # the labels above the tiles
                assert t.get_window_extent().y1 <= title_bottom, t.get_text()


def test_plot_filters_changes_no_global_style():
    before = dict(matplotlib.rcParams)
    plot_filters(np.ones((3, 3, 3)))
    assert dict(matplotlib.rcParams) == before


@pytest.mark.parametrize("bad, exc", [
    (np.ones((3, 3)), ValueError),
    (np.ones((1, 1, 1, 3, 3)), ValueError),
    (np.full((2, 3, 3), np.nan), ValueError),
    ("filters", TypeError),
])
def test_plot_filters_rejects_bad_input(bad, exc):
    with pytest.raises(exc, match="plot_filters: w"):
        plot_filters(bad)


# ----------------------------------------------------------------------------- plot_feature_maps
def test_plot_feature_maps_one_panel_per_channel():
    maps = np.random.default_rng(1).normal(size=(6, 10, 7))
    fig, ax = plt.subplots()
    assert plot_feature_maps(maps, ax=ax) is ax
    assert [t for t in _texts(ax) if t.startswith("map")] == [f"map {k}" for k in range(6)]
    shown = ax.images[0].get_array()
    assert np.isfinite(shown).sum() == maps.size   # every cell of every map is drawn once


def test_plot_feature_maps_2d_and_custom_labels_and_numbers():
    m = np.array([[0.5, 1.0], [1.5, 2.25]])
    ax = plot_feature_maps(m, labels=["edges"])
    texts = _texts(ax)
    assert "edges" in texts
    for v in ["0.5", "1", "1.5", "2.25"]:
        assert v in texts


def test_plot_feature_maps_rejects_bad_input():
    with pytest.raises(ValueError, match="plot_feature_maps: maps must be 2-D or 3-D"):
        plot_feature_maps(np.ones((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="labels must have one entry per tile"):
        plot_feature_maps(np.ones((3, 4, 4)), labels=["a"])
    with pytest.raises(TypeError, match="plot_feature_maps: maps"):
        plot_feature_maps(None)


# ----------------------------------------------------------------------------- plot_conv_step
@pytest.mark.parametrize("shape, f, stride, padding", [
    ((5, 5), (3, 3), 1, 0), ((7, 5), (3, 3), 2, 1), ((6, 4), (2, 3), 3, 2), ((4, 4), (4, 4), 1, 0),
])
def test_plot_conv_step_values_match_conv2d(shape, f, stride, padding):
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, size=shape).astype(float)
    w = rng.integers(-2, 3, size=f).astype(float)
    y = _reference(x, w, stride, padding)
    i, j = y.shape[0] - 1, y.shape[1] // 2
    axes = plot_conv_step(x, w, i, j, stride=stride, padding=padding)
    assert len(axes) == 4
    out = np.ma.filled(axes[3].images[0].get_array(), np.nan)
    assert out.shape == y.shape
    done = np.arange(y.size).reshape(y.shape) <= i * y.shape[1] + j   # reading order
    np.testing.assert_allclose(out[done], y[done])
    assert np.isnan(out[~done]).all()
    assert f"{y[i, j]:.0f}" in _texts(axes[3])
    window = np.pad(x, padding)[stride * i:stride * i + f[0], stride * j:stride * j + f[1]]
    np.testing.assert_allclose(axes[2].images[0].get_array(), window * w)
    assert np.sum(axes[2].images[0].get_array()) == pytest.approx(y[i, j])


@pytest.mark.parametrize("shape, f, padding", [((8, 8), 3, 0), ((10, 12), 3, 1), ((6, 6), 5, 2)])
def test_plot_conv_step_fits_the_page_column_with_readable_numbers(shape, f, padding):
    x = np.arange(np.prod(shape), dtype=float).reshape(shape) % 23 - 11      # '-11' .. '11'
    axes = plot_conv_step(x, np.ones((f, f)), 1, 1, padding=padding)
    fig = axes[0].figure
    assert fig.get_figwidth() * fig.dpi <= COLUMN_PX + 0.5   # drawn at the size the page shows
    assert small_texts(fig) == []


def test_plot_filters_of_many_channels_fits_the_page_column():
    ax = plot_filters(np.random.default_rng(0).standard_normal((4, 8, 3, 3)), annotate=False)
    assert ax.figure.get_figwidth() * ax.figure.dpi <= COLUMN_PX + 0.5
    assert small_texts(ax.figure) == []             # 'channel 0' ... were 7.9 px when 10.8 in wide


def test_plot_conv_step_draws_on_given_axes_and_marks_padding():
    fig, axes = plt.subplots(1, 4)
    x = np.arange(9.0).reshape(3, 3)
    got = plot_conv_step(x[None], np.ones((1, 2, 2)), 0, 0, padding=1, axes=axes)
    assert list(got) == list(axes)
    zeros = [t for t in axes[0].texts if t.get_text() == "0" and t.get_style() == "italic"]
    assert len(zeros) == 5 * 5 - 3 * 3            # every padding cell shows an italic zero
    assert "padding P=1" in axes[0].get_title()


def test_plot_conv_step_input_zero_is_black_padding_too():
    x = np.array([[0.0, 2.0], [4.0, 1.0]])
    axes = plot_conv_step(x, np.ones((2, 2)), 0, 0, padding=1)
    img = axes[0].images[0]
    shown = np.asarray(img.get_array())
    np.testing.assert_array_equal(shown, np.pad(x, 1))  # padding cells hold real zeros
    assert img.norm.vmin == 0 and img.norm.vmax == 4      # 0 black, the largest value white
    assert img.cmap.name.startswith("gray")


def test_plot_conv_step_kernel_uses_the_weight_scale():
    """The notation page's rule for weights: black the most negative, mid-grey zero, white the
    most positive (the kernel panel drew -1 mid-grey and 0 light grey, unlike plot_filters)."""
    w = np.array([[-1.0, 0.0, 1.0]] * 3)
    axes = plot_conv_step(np.ones((5, 5)), w, 0, 0)
    img = axes[1].images[0]
    np.testing.assert_array_equal(np.asarray(img.get_array()), w)
    rgba = img.to_rgba(w)
    np.testing.assert_allclose(rgba[0, 0, :3], 0.0, atol=0.01)      # -1: black
    np.testing.assert_allclose(rgba[0, 1, :3], 0.5, atol=0.02)      # 0: mid-grey
    np.testing.assert_allclose(rgba[0, 2, :3], 1.0, atol=0.01)      # +1: white
    inks = {t.get_text(): t.get_color() for t in axes[1].texts}
    assert inks["-1"] == "white" and inks["1"] == "black" and len(axes[1].texts) == 9, inks
    plt.close(axes[0].figure)


def test_plot_conv_step_bias_is_added():
    x, w = np.ones((3, 3)), np.ones((3, 3))
    axes = plot_conv_step(x, w, 0, 0, b=-2.5)
    assert axes[3].images[0].get_array()[0, 0] == pytest.approx(9 - 2.5)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(i=3, j=0), ValueError, "plot_conv_step: i must be < 3"),
    (dict(i=0, j=-1), ValueError, "plot_conv_step: j must be an int >= 0"),
    (dict(i=0, j=0, stride=0), ValueError, "plot_conv_step: stride must be an int >= 1"),
    (dict(i=0, j=0, padding=-1), ValueError, "plot_conv_step: padding must be an int >= 0"),
    (dict(i=0, j=0, stride=1.5), TypeError, "plot_conv_step: stride must be an int"),
    (dict(i=0, j=0, axes=[None, None]), ValueError, "axes must hold 4 Axes"),
])
def test_plot_conv_step_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        plot_conv_step(np.ones((5, 5)), np.ones((3, 3)), **kwargs)


def test_plot_conv_step_rejects_bad_arrays():
    with pytest.raises(ValueError, match="kernel w of shape \\(5, 5\\) is larger"):
        plot_conv_step(np.ones((3, 3)), np.ones((5, 5)), 0, 0)
    with pytest.raises(ValueError, match="x must be one channel"):
        plot_conv_step(np.ones((3, 5, 5)), np.ones((3, 3)), 0, 0)
    with pytest.raises(TypeError, match="plot_conv_step: w must be a numeric array"):
        plot_conv_step(np.ones((5, 5)), "sobel", 0, 0)


def test_plot_filters_names_as_labels():
    ax = plot_filters(np.ones((2, 1, 3, 3)), labels=["blur", "edge"])
    assert {"blur", "edge"} <= set(_texts(ax))
    ax = plot_filters(np.ones((2, 3, 3, 3)), labels=["blur", "edge"])
    assert {"blur", "edge", "channel 2"} <= set(_texts(ax))
    with pytest.raises(ValueError, match="plot_filters: labels must have one entry per tile"):
        plot_filters(np.ones((2, 3, 3)), labels=["only one"])


def test_plot_feature_maps_robust_scaling_clips_outliers():
    m = np.zeros((1, 10, 10))
    m[0, :, 5:] = 1.0
    m[0, 0, 0] = 100.0                                   # one extreme pixel
    plain = plot_feature_maps(m, annotate=False).images[0].get_array()
    robust = plot_feature_maps(m, annotate=False, robust=True).images[0].get_array()
    plain, robust = np.ma.filled(plain, np.nan), np.ma.filled(robust, np.nan)
    assert np.count_nonzero(plain > 0.5) == 1          # washed out: only the outlier is bright
    assert np.count_nonzero(robust > 0.5) == 51        # the bright half, and the clipped outlier
    assert np.nanmax(robust) == 1.0 and np.nanmin(robust) == 0.0


def test_plot_feature_maps_one_range_for_every_map():
    """vrange: maps keep their brightness relative to each other (a dimmer copy stays dimmer),
    values beyond the range are clipped; without it each map is stretched to its own range."""
    m = np.stack([np.linspace(0, 1, 16).reshape(4, 4), np.linspace(0, 0.5, 16).reshape(4, 4),
                  np.linspace(-1, 2, 16).reshape(4, 4)])
    shown = np.ma.filled(plot_feature_maps(m, annotate=False, ncols=3, vrange=(0, 1)).images[0]
                         .get_array(), np.nan)
    tiles = [shown[:, k * 5:k * 5 + 4] for k in range(3)]   # one column of nan between tiles
    assert np.allclose(tiles[0], m[0]) and np.allclose(tiles[1], m[1])
    assert np.allclose(tiles[2], np.clip(m[2], 0, 1))
    own = np.ma.filled(plot_feature_maps(m, annotate=False, ncols=3).images[0].get_array(), np.nan)
    assert np.nanmax(own[:, 5:9]) == 1.0                     # the dim map stretched to white
    with pytest.raises(ValueError, match=r"plot_feature_maps: vrange must be \(lo, hi\) with lo < hi"):
        plot_feature_maps(m, vrange=(1, 0))
    plt.close("all")


def test_import_cnnlib_does_not_import_matplotlib():
    """The figures live with the book: `import cnnlib` loads no Matplotlib, figures no pyplot."""
    import subprocess
    code = ("import sys, cnnlib; assert 'matplotlib' not in sys.modules; "
            "import figures, conv_animation; assert 'matplotlib.pyplot' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=BOOK)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------------ what several chapters show
def test_same_layers_tells_architectures_apart_not_weights():
    """Chapters assert a restated network against figures.py with same_layers: it must see a
    missing pooling, another padding or width, and ignore the random weights."""
    from figures import NARROW_LENET, pipeline_cnn, same_layers
    rng = np.random.default_rng(5)
    assert same_layers(pipeline_cnn(), pipeline_cnn(rng))
    assert same_layers(cnnlib.lenet_digits(rng=rng, channels=(8, 16), hidden=32),
                       cnnlib.lenet_digits(**NARROW_LENET))
    assert not same_layers(cnnlib.lenet_digits(**NARROW_LENET), cnnlib.lenet_digits())
    no_padding = cnnlib.Sequential(
        cnnlib.Conv2D(1, 8, kernel_size=3, rng=rng), cnnlib.ReLU(),
        cnnlib.Conv2D(8, 16, kernel_size=3, padding=2, rng=rng), cnnlib.ReLU(),
        cnnlib.Flatten(), cnnlib.Dense(16 * 8 * 8, 10, rng=rng))
    assert not same_layers(no_padding, pipeline_cnn())          # same parameter shapes
    assert [p.value.shape for p in no_padding.parameters()] == \
        [p.value.shape for p in pipeline_cnn().parameters()]


def _contrast(a, b):
    """WCAG contrast ratio of two relative luminances."""
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _luminance(grey):
    linear = grey / 12.92 if grey <= 0.04045 else ((grey + 0.055) / 1.055) ** 2.4
    return linear


@pytest.mark.parametrize("grey", np.linspace(0, 1, 41))
def test_numbers_on_cells_get_the_ink_of_higher_contrast(grey):
    """On a 0.5 grey white text was 3.95:1 (a reader's accessibility pass); the ink with the higher
    contrast is always at least 4.5:1."""
    from figures import _ink
    ink = _ink((grey, grey, grey, 1.0))
    black, white = _contrast(_luminance(grey), 0.0), _contrast(_luminance(grey), 1.0)
    assert ink == ("black" if black > white else "white")
    assert max(black, white) >= 4.5


def test_the_orange_window_has_a_dark_edge():
    """The orange outline alone is 1.2-2.3:1 on the light cells: a black stroke runs under it."""
    fig = plot_conv_step(np.arange(16.0).reshape(4, 4), np.ones((2, 2)), 0, 0)[0].figure
    outlines = [p for ax in fig.axes for p in ax.patches if not p.get_fill()]
    assert outlines and all(p.get_path_effects() for p in outlines)
    plt.close(fig)


# ----------------------------------------------------------------------------- number grids
def test_pool_winners_marks_the_first_maximum_of_each_window():
    from figures import POOLING_EXAMPLE, pool_winners
    a = np.array(POOLING_EXAMPLE, dtype=float)
    assert a[pool_winners(a, 2)].tolist() == [6, 4, 7, 8]
    tie = pool_winners(np.array([[2.0, 2.0], [1.0, 0.0]]), 2)
    assert tie.tolist() == [[True, False], [False, False]]


def test_plot_number_grid_writes_every_number_and_circles_the_marked_ones():
    from figures import plot_number_grid
    a = np.array([[1.0, 0.25], [3.0, -2.0]])
    marked = np.array([[False, True], [True, False]])
    _, ax = plt.subplots()
    plot_number_grid(ax, a, "t", windows=1, marked=marked)
    assert _texts(ax) == ["1", "0.25", "3", "-2"]
    centres = sorted(tuple(p.center) for p in ax.patches)
    assert centres == [(0, 1), (1, 0)]        # (column, row) of the two marked cells
    assert [t.get_fontweight() for t in ax.texts] == ["normal", "bold", "bold", "normal"]


def test_plot_number_grid_rejects_a_mark_of_another_shape():
    from figures import plot_number_grid
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"plot_number_grid: marked must have the shape of a, \(2, 2\)"):
        plot_number_grid(ax, np.zeros((2, 2)), "t", marked=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="plot_number_grid: a"):
        plot_number_grid(ax, np.zeros((2, 2, 2)), "t")
