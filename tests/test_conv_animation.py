"""Tests for book/conv_animation.py: one frame per output cell, values of cnnlib.conv2d, no CDN."""
import base64
import io
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnnlib  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))   # as the chapters import it
from conv_animation import ConvAnimation, conv_animation, frame_texts  # noqa: E402

FRAME = re.compile(r'frames\[(\d+)\] = "data:image/png;base64,([^"]+)"')


def _frames(html):
    return [base64.b64decode(data.replace("\\n", "")) for _, data in FRAME.findall(html)]


@pytest.mark.parametrize("shape, f, stride, padding", [
    ((4, 4), (3, 3), 1, 0),      # 2 x 2 = 4 frames
    ((5, 4), (3, 3), 2, 1),      # 3 x 2 = 6 frames, stride does not divide
    ((2, 3), (2, 2), 1, 1),      # 3 x 4 = 12 frames, padding on a tiny input
])
def test_one_frame_per_output_cell_and_output_matches_conv2d(shape, f, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=shape).astype(float)
    w = rng.integers(-1, 2, size=f).astype(float)
    y = cnnlib.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]
    anim = conv_animation(x, w, stride=stride, padding=padding)
    assert isinstance(anim, ConvAnimation)
    assert anim.n_frames == y.size
    frames = _frames(anim.html)
    assert len(frames) == y.size
    assert all(fr.startswith(b"\x89PNG") for fr in frames)
    assert len(set(frames)) == len(frames)            # the window moves: every frame differs
    np.testing.assert_allclose(anim.output, y)


def test_html_is_a_player_that_needs_no_network():
    anim = conv_animation(np.arange(16.0).reshape(4, 4), np.eye(2), alt="A 2x2 kernel slides")
    html = anim._repr_html_()
    assert html == anim.html
    assert "new Animation(" in html and 'type="range"' in html
    assert 'title="Next frame"' in html and 'title="Play"' in html
    assert "http://" not in html and "https://" not in html     # no CDN stylesheet
    assert 'alt="A 2x2 kernel slides"' in html


def test_screen_readers_get_a_named_player_and_each_frame_in_words():
    """A named group, a slider named "Frame", and one sentence per frame with the window's rows and
    columns and the output value (x = 0..15, 3 x 3 ones, S = 2, P = 1: y[0, 0] = 0+1+4+5)."""
    anim = conv_animation(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), stride=2, padding=1)
    html = anim.html
    assert html.startswith('<div role="group" aria-label="Convolution animation: 4×4 input, '
                           '3×3 kernel, stride 2, padding 1">')
    assert '<input aria-label="Frame" id="_anim_slider' in html and 'aria-live="polite"' in html
    texts = frame_texts((4, 4), (3, 3), 2, 1, anim.output)
    assert texts[0] == ("Frame 1 of 4: the window covers rows 0 to 2 and columns 0 to 2 of the "
                        "padded input; output y[0, 0] = 10.")
    assert texts[3].startswith("Frame 4 of 4: the window covers rows 2 to 4 and columns 2 to 4")
    assert [float(s.rsplit("= ", 1)[1].rstrip(".")) for s in texts] == anim.output.ravel().tolist()
    assert all(s in html for s in texts)
    unpadded = frame_texts((3, 3), (2, 2), 1, 0, np.array([[1.5, 2.0], [0.25, -1.0]]))
    assert unpadded[2] == ("Frame 3 of 4: the window covers rows 1 to 2 and columns 0 to 1 of the "
                           "input; output y[1, 0] = 0.25.")


def test_frames_are_small():
    anim = conv_animation(np.ones((3, 3)), np.ones((3, 3)), padding=1, dpi=80)
    png = _frames(anim.html)[0]
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width <= 800 and height <= 400
    assert len(anim.html) < 60_000 * anim.n_frames


def test_no_figure_is_left_open_and_no_style_changes():
    before, figs = dict(matplotlib.rcParams), plt.get_fignums()
    conv_animation(np.ones((3, 3)), np.ones((2, 2)))
    assert plt.get_fignums() == figs
    assert dict(matplotlib.rcParams) == before


def test_frames_fit_the_page_column_and_small_text_is_refused():
    import warnings
    x = np.arange(64.0).reshape(8, 8) % 17
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conv_animation(x, np.ones((3, 3)), padding=1, dpi=80)     # as chapter 5: 10 px text
    with pytest.warns(UserWarning, match="conv_animation: .* under the 10 px a reader needs"):
        conv_animation(x, np.ones((3, 3)), padding=1, dpi=60)     # 9 pt at 60 dpi: 7.5 px


def test_last_frame_shows_the_full_output():
    x = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 2.0, 1.0]])
    w = np.array([[1.0, -1.0], [0.0, 2.0]])
    anim = conv_animation(x, w, b=0.5)
    y = cnnlib.conv2d(x[None, None], w[None, None], b=np.array([0.5]))[0, 0]
    np.testing.assert_allclose(anim.output, y)
    assert "4 frames" in repr(anim)
    from PIL import Image
    first, last = (np.asarray(Image.open(io.BytesIO(fr))) for fr in _frames(anim.html)[::3])
    assert first.shape == last.shape                # the layout is frozen: frames align


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(x=np.ones((20, 20)), w=np.ones((3, 3))), ValueError, "more frames than max_frames=64"),
    (dict(x=np.ones((2, 2)), w=np.ones((3, 3))), ValueError, "conv_animation: kernel w"),
    (dict(x=np.ones((2, 5, 5)), w=np.ones((3, 3))), ValueError, "conv_animation: x must be one"),
    (dict(x=np.ones((5, 5)), w=np.ones((3, 3)), stride=0), ValueError, "stride must be an int >= 1"),
    (dict(x="image", w=np.ones((3, 3))), TypeError, "conv_animation: x must be a numeric"),
])
def test_bad_input_is_refused(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        conv_animation(**kwargs)
