"""Text a reader can read: every figure of the book is checked as the page will show it.

A figure is shown as a PNG (``bbox_inches="tight"``, 100 dpi in the notebook) and scaled down
to fit the page's text column, so a wide figure's 9-point labels can end up 7 pixels high.
:func:`small_texts` says which texts of a figure would show under ``MIN_TEXT_PX``;
:func:`watch`, a Matplotlib figure hook, warns about them whenever a figure is drawn. The
``matplotlibrc`` beside the chapters installs the hook (Matplotlib reads that file from the
folder a chapter runs in), and the build fails on any warning, so no chapter can show such
text. Animations, drawn without pyplot, call :func:`warn_small_texts` themselves.
"""
import warnings

COLUMN_PX = 672      # the book's text column in a 1280-px-wide window (pydata-sphinx-theme)
MIN_TEXT_PX = 10     # the smallest font size, in screen pixels, a figure may show
_checking = False    # True while small_texts draws a figure (its draw_event is not a show)


def small_texts(fig, *, tight=True, column_px=COLUMN_PX, min_px=MIN_TEXT_PX):
    """The texts `fig` draws smaller than `min_px` pixels when shown in a `column_px` column.

    The figure is drawn once more, at its own dpi, by a renderer that notes every text it
    draws (so hidden tick labels and axes turned off do not count).

    Parameters
    ----------
    fig : matplotlib Figure
    tight : bool
        Whether the PNG is cropped to what is drawn (``bbox_inches="tight"``, as a notebook
        shows figures) or keeps the figure's size (as the frames of an animation).
    column_px, min_px : float
        Width of the page's column and the smallest text size allowed, in screen pixels.

    Returns
    -------
    list of (float, str)
        (size shown in pixels, text) for each text drawn under `min_px`, smallest first;
        empty when all can be read.
    """
    global _checking
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import RendererAgg
    drawn = []

    class Recorder(RendererAgg):
        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            drawn.append((prop.get_size_in_points(), s))
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)

    renderer = Recorder(int(fig.bbox.width), int(fig.bbox.height), fig.dpi)
    _checking = True
    try:
        fig.draw(renderer)
    finally:
        _checking = False
    width_in = fig.get_figwidth()
    if tight:                                            # what savefig keeps, and its pad
        width_in = fig.get_tightbbox(renderer).width + 2 * rcParams["savefig.pad_inches"]
    scale = min(1.0, column_px / (width_in * fig.dpi))   # the page shrinks wide figures
    shown = [(size * fig.dpi / 72 * scale, text) for size, text in drawn if text.strip()]
    return sorted((round(float(px), 2), text) for px, text in shown if px < min_px - 0.005)


def warn_small_texts(fig, *, tight=True, what="figure"):
    """Warn (``UserWarning``) when `fig` shows text under ``MIN_TEXT_PX``; see small_texts."""
    small = small_texts(fig, tight=tight)
    if small:
        texts = list(dict.fromkeys(text for _, text in small))
        names = ", ".join(map(repr, texts[:5])) + (" ..." if len(texts) > 5 else "")
        warnings.warn(f"{what}: {len(small)} text(s) would show {small[0][0]:g} px high in the "
                      f"book's {COLUMN_PX}-px column, under the {MIN_TEXT_PX} px a reader needs: "
                      f"{names}. Use a larger font size or a narrower figure.", stacklevel=2)
    return small


def watch(fig):
    """Matplotlib figure hook (``figure.hooks``): check `fig`'s text each time it is drawn
    (a notebook draws it once to show it); warn once per figure."""
    def check(event):
        if not _checking and not getattr(fig, "_small_text_warned", False):
            fig._small_text_warned = bool(warn_small_texts(fig))
    fig.canvas.mpl_connect("draw_event", check)
