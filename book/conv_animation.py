"""A convolution as a JavaScript animation that plays in a static HTML page.

The frames are the four panels of :func:`figures.plot_conv_step`, embedded as PNG
images in the HTML of ``FuncAnimation.to_jshtml`` (play, pause, step and a slider; no
server, no kernel). The Font Awesome stylesheet that Matplotlib links from a CDN is removed:
the book's theme ships the icons itself, and nothing visible needs the network. Frames are
drawn no wider than the page's column, and their text is checked as the page shows it
(``readable_text``). For screen readers the player is a named group, its slider is named
"Frame", and every step says, in text, where the window is and which output it gives (the
slider's value text and a polite live line; tests/test_book_browser.py checks it in Chromium).
"""
import json
import re

import numpy as np

from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from cnnlib._validate import check_int
from figures import _conv_step_drawing, _fmt, _step_arrays, step_figsize
from readable_text import warn_small_texts

_CDN_LINK = re.compile(r"<link[^>]*font-awesome[^>]*>\s*", re.IGNORECASE)


class ConvAnimation:
    """The HTML of a convolution animation; a notebook displays it as the player.

    Attributes
    ----------
    html : str
        Self-contained HTML (frames embedded as base64 PNG, JavaScript inline).
    n_frames : int
        Number of frames, one per output cell: H_out * W_out.
    output : array of shape (H_out, W_out)
        The output the last frame shows.
    """

    def __init__(self, html, n_frames, output):
        self.html, self.n_frames, self.output = html, n_frames, output

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        return f"<ConvAnimation: {self.n_frames} frames, output {self.output.shape}>"


def conv_animation(x, w, stride=1, padding=0, *, b=0.0, interval=1000, dpi=100,
                   max_frames=64, alt=None):
    """Animate a kernel sliding over a padded input, one frame per output cell.

    Parameters
    ----------
    x : array of shape (H, W) or (1, H, W)
        One channel of input; keep it small (numbers are written in the cells).
    w : array of shape (F, F) or (1, F, F)
        One kernel (rectangular (Fh, Fw) too).
    stride, padding : int
        S >= 1 and P >= 0.
    b : float
        Bias added to every output cell.
    interval : int
        Milliseconds between frames when playing.
    dpi : int
        Resolution of the embedded frames (keeps the page light).
    max_frames : int
        Refuse inputs that would need more frames than this.
    alt : str, optional
        Alternative text of the player's image, for readers who cannot see it.

    Returns
    -------
    ConvAnimation
        Displays in a notebook (and in the built book) as a JavaScript player.

    Notes
    -----
    Frame k shows output cell (i, j) = divmod(k, W_out):
    y[i, j] = sum_m sum_n x_pad[S i + m, S j + n] w[m, n] + b.
    """
    xp, kernel, stride, padding, (h_out, w_out) = _step_arrays(
        "conv_animation", x, w, 0, 0, stride, padding)
    max_frames = check_int(max_frames, "conv_animation", "max_frames", 1)
    n_frames = h_out * w_out
    if n_frames > max_frames:
        raise ValueError(f"conv_animation: the output has {h_out}x{w_out} = {n_frames} cells, "
                         f"more frames than max_frames={max_frames}; use a smaller x")
    fig = Figure(figsize=step_figsize(xp.shape, kernel.shape, (h_out, w_out), dpi=dpi), dpi=dpi,
                 layout="constrained")
    drawing = _conv_step_drawing("conv_animation", x, w, 0, 0, stride, padding, None, b,
                                 None, figure=fig)
    drawing.update(h_out - 1, w_out - 1)
    fig.draw_without_rendering()       # lay out once with the full output, then freeze
    fig.set_layout_engine(None)        # no engine at all: no layout pass per frame
    warn_small_texts(fig, tight=False, what="conv_animation")   # frames keep the figure's size

    def draw(k):
        drawing.update(*divmod(k, w_out))
        return []

    anim = FuncAnimation(fig, draw, frames=n_frames, interval=interval, repeat=False)
    html = _CDN_LINK.sub("", anim.to_jshtml(default_mode="once", embed_frames=True))
    if alt:
        html = html.replace("<img id=", f'<img alt="{_attr(alt)}" id=', 1)
    html = _speak_frames(html, frame_texts(x.shape[-2:], kernel.shape, stride, padding, drawing.y_full),
                         f"{x.shape[-2]}×{x.shape[-1]} input, {kernel.shape[0]}×{kernel.shape[1]} "
                         f"kernel, stride {stride}, padding {padding}")
    return ConvAnimation(html, n_frames, drawing.y_full.copy())


def _attr(text):
    """`text` safe inside a double-quoted HTML attribute."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def frame_texts(x_shape, w_shape, stride, padding, y):
    """One sentence per frame: where the window is in the padded input and the output it gives.

    x_shape (H, W), w_shape (Fh, Fw), y (H_out, W_out), the full output.
    """
    (h_out, w_out), (fh, fw) = y.shape, w_shape
    integral = bool(np.all(np.round(y) == y))
    texts = []
    for k in range(h_out * w_out):
        i, j = divmod(k, w_out)
        r, c = stride * i, stride * j
        texts.append(f"Frame {k + 1} of {h_out * w_out}: the window covers rows {r} to {r + fh - 1} "
                     f"and columns {c} to {c + fw - 1} of the {'padded ' if padding else ''}input; "
                     f"output y[{i}, {j}] = {_fmt(y[i, j], integral)}.")
    return texts


def _speak_frames(html, texts, what):
    """Wrap the player in a named group; name its slider; say each frame's text as it shows.

    `what` describes this player ("5×5 input, 3×3 kernel, stride 2, padding 1"): the group is
    "Convolution animation: <what>", and Matplotlib's "Repetition mode" form, a landmark because
    it is named, becomes "Repetition mode (<what>)", so that several players on a page do not
    give several landmarks of one name. While the player plays, the live line and the slider
    say only "Frame k of n" (a screen reader fell behind a long sentence a second); on a pause,
    the last frame or a single step they say the whole sentence.
    """
    key = re.search(r'id="_anim_img(\w+)"', html).group(1)
    html = html.replace(f'<input id="_anim_slider{key}"', f'<input aria-label="Frame" id="_anim_slider{key}"', 1)
    form = 'aria-label="Repetition mode" action="#n"'
    if form not in html:
        raise RuntimeError("conv_animation: Matplotlib's player has no 'Repetition mode' form")
    html = html.replace(form, f'aria-label="Repetition mode ({_attr(what)})" action="#n"', 1)
    script = ("<script>(function () {\n"
              f"  var texts = {json.dumps(texts)};\n"
              f'  var img = document.getElementById("_anim_img{key}");\n'
              f'  var slider = document.getElementById("_anim_slider{key}");\n'
              f'  var line = document.getElementById("_anim_text{key}");\n'
              "  function say() {\n"
              "    var k = parseInt(slider.value, 10);\n"
              f"    var anim = window.anim{key};\n"
              "    var playing = anim && anim.timer && k < texts.length - 1;\n"
              '    var text = playing ? "Frame " + (k + 1) + " of " + texts.length : (texts[k] || "");\n'
              '    slider.setAttribute("aria-valuetext", text);\n'
              "    line.textContent = text;\n"
              "  }\n"
              '  new MutationObserver(say).observe(img, {attributes: true, attributeFilter: ["src"]});\n'
              '  slider.addEventListener("input", say);\n'
              "  // Matplotlib's buttons act in their onclick, before the click reaches this listener:\n"
              "  // after Pause the player has stopped and the whole sentence is said\n"
              '  img.parentNode.addEventListener("click", say);\n'
              "  say();\n"
              "})();</script>")
    return (f'<div role="group" aria-label="Convolution animation: {_attr(what)}">{html}'
            f'<p class="visually-hidden" aria-live="polite" id="_anim_text{key}"></p>{script}</div>')
