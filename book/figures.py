"""Figures for the book: filters, feature maps and one step of a convolution.

Every helper takes arrays and an optional Matplotlib ``ax`` (``axes`` for the four-panel
convolution step), draws on it and returns it. Nothing here changes Matplotlib's global
style. Colour maps stay readable in greyscale and by colour-blind readers: "gray" for
weights (black negative, mid-grey zero, white positive) and for the input of a convolution
step (0 black, the largest value white), "viridis" for feature maps, light greys behind the
other annotated numbers; the highlight is a thick orange outline (Okabe-Ito orange),
which also shows as a thick line in greyscale. ``matplotlib.pyplot`` is imported only when a
helper has to make a new figure.

The last section holds what more than one chapter shows (an example array, a network, a
training setting): the chapter that shows it and the chapter that restates it both assert
against it, so the two cannot drift apart.
"""
import matplotlib
import numpy as np
from matplotlib.patches import Circle, Rectangle
from matplotlib.patheffects import withStroke

import cnnlib
from cnnlib._validate import as_float_array, check_int
from readable_text import COLUMN_PX

HIGHLIGHT = "#E69F00"       # Okabe-Ito orange: safe for colour-blind readers
ANNOTATE_MAX_CELLS = 144    # annotate numbers when an array has at most this many cells


def highlight_edge(linewidth):
    """Path effects that draw a black edge under a HIGHLIGHT line of `linewidth` points: orange
    alone is below 3:1 contrast on white and on light grey cells (WCAG's rule for graphics)."""
    return [withStroke(linewidth=linewidth + 2.5, foreground="black")]


def _column_cell(cell, cells_across, margin, dpi=100):
    """`cell` (inches), or less where `cells_across` cells and `margin` inches would make a
    figure wider than the page's column at `dpi` (the page would shrink it, text and all)."""
    return min(cell, (COLUMN_PX / dpi - margin) / cells_across)


def _subplots(*args, **kwargs):
    """``plt.subplots``, importing pyplot only now (``import cnnlib`` does not)."""
    import matplotlib.pyplot as plt
    return plt.subplots(*args, **kwargs)


# ----------------------------------------------------------------------------- drawing bits
def _fmt(v, integral):
    """Short label for one number: '3', '-0.5', '0.13' (never '-0')."""
    s = f"{v:.0f}" if integral else f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _annotate(ax, values, rgba=None, x0=0, y0=0, fontsize=9, color=None):
    """Write every finite number of the 2-D `values` in its cell (offset x0, y0)."""
    integral = bool(np.all(np.isnan(values) | (np.round(values) == values)))
    for (r, c), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        col = color if color is not None or rgba is None else _ink(rgba[r, c])
        ax.text(x0 + c, y0 + r, _fmt(v, integral), ha="center", va="center",
                fontsize=fontsize, color=col or "black")


def _ink(rgba):
    """Black or white text, whichever contrasts more with the cell (its RGBA colour).

    WCAG's relative luminance L: black text has contrast (L + 0.05) / 0.05, white 1.05 / (L + 0.05);
    they are equal at L = 0.179, a grey of about 0.46 (so a 0.5 grey gets black: 5.3:1, not 4:1).
    """
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "black" if luminance > (1.05 * 0.05) ** 0.5 - 0.05 else "white"


def _cell_grid(ax, h, w, color="0.75"):
    """Thin lines between the cells of an h x w image; no ticks."""
    ax.vlines(np.arange(0.5, w - 0.5), -0.5, h - 0.5, colors=color, linewidth=0.8)
    ax.hlines(np.arange(0.5, h - 0.5), -0.5, w - 0.5, colors=color, linewidth=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def _mosaic(tiles, ncols, hgap, vgap):
    """Tile (T, h, w) into one 2-D array with NaN gaps; return it and each tile's (row, col)."""
    t, h, w = tiles.shape
    nrows = -(-t // ncols)
    out = np.full((nrows * (h + vgap) - vgap, ncols * (w + hgap) - hgap), np.nan)
    corners = []
    for k in range(t):
        r0, c0 = (k // ncols) * (h + vgap), (k % ncols) * (w + hgap)
        out[r0:r0 + h, c0:c0 + w] = tiles[k]
        corners.append((r0, c0))
    return out, corners


def _scale_tiles(tiles, symmetric, robust=False, vrange=None):
    """Scale each tile to [-1, 1] (symmetric, zero stays 0) or [0, 1] (min to max).

    With robust=True the 1st and 99th percentiles take the place of min and max (values
    beyond them are clipped), so that a few extreme pixels do not wash out the rest. With
    `vrange` (lo, hi) every tile gets that one range instead (clipped beyond it).
    """
    out = np.empty_like(tiles)
    for k, tile in enumerate(tiles):
        if symmetric:
            m = np.abs(tile).max()
            out[k] = tile / m if m > 0 else tile
        else:
            lo, hi = (vrange if vrange is not None else np.percentile(tile, [1, 99]) if robust
                      else (tile.min(), tile.max()))
            out[k] = (np.clip(tile, lo, hi) - lo) / (hi - lo) if hi > lo else \
                np.full_like(tile, 0.5)
    return out


def _tile_labels(func, labels, n):
    """None (no labels), the indices (labels=True) or the n given strings."""
    if labels is True:
        return [str(i) for i in range(n)]
    if labels is False or labels is None:
        return None
    labels = [str(t) for t in labels]
    if len(labels) != n:
        raise ValueError(f"{func}: labels must have one entry per tile ({n}), got {len(labels)}")
    return labels


def _cell_points(ax, shape):
    """The side in points of one cell of a (rows, cols) image on `ax`, as laid out so far."""
    box = ax.get_window_extent()
    return min(box.width / shape[1], box.height / shape[0]) * 72 / ax.figure.dpi


def _draw_tiles(ax, tiles, scaled, ncols, cmap, vmin, vmax, labels, annotate):
    """Draw a mosaic of tiles on `ax` with optional labels above and numbers inside."""
    t, h, w = tiles.shape
    rows = -(-t // ncols)               # room for a label: 35 % of a tile, at most about 18 pt
    label_rows = min(np.ceil(0.35 * h), np.ceil(18 / _cell_points(ax, (rows * h, ncols * w))))
    hgap, vgap = max(1, round(0.25 * w)), (max(2, int(label_rows)) if labels else
                                         max(1, round(0.25 * h)))
    mosaic, corners = _mosaic(scaled, ncols, hgap, vgap)
    cm = matplotlib.colormaps[cmap].with_extremes(bad="white")      # a copy: no global change
    img = ax.imshow(mosaic, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
    rgba = img.to_rgba(np.ma.masked_invalid(mosaic))
    fontsize = 9 if max(h, w) <= 5 else 7.5
    chars = max(len(_fmt(v, False)) for v in tiles.ravel()) if annotate else 0
    if chars > 3:
        fontsize -= 1.5                      # '-0.25' needs more room than '-1'
    if annotate:                             # larger where the cells have room (up to 11 pt)
        fontsize = max(fontsize, min(11.0, 0.85 * _cell_points(ax, mosaic.shape) / (0.6 * chars)))
    for k, (r0, c0) in enumerate(corners):
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), w, h, fill=False, edgecolor="0.6",
                               linewidth=0.6))        # a frame: even an all-white tile shows
        if labels:
            ax.text(c0 + (w - 1) / 2, r0 - 0.6, labels[k], ha="center", va="bottom",
                    fontsize=9, clip_on=False)
        if annotate:
            _annotate(ax, tiles[k], rgba[r0:r0 + h, c0:c0 + w], c0, r0, fontsize)
    if labels:       # room for the first row's labels inside the axes: a title stays above
        ax.set_ylim(mosaic.shape[0] - 0.5, -0.5 - vgap)
    ax.set_axis_off()
    return ax


# ----------------------------------------------------------------------------- public API
def plot_filters(w, ax=None, *, cmap="gray", ncols=None, labels=True, annotate=None):
    """Draw a grid of filters, one tile per filter (and per input channel).

    Parameters
    ----------
    w : array of shape (K, C, F, F) or (K, F, F)
        The filters (rectangular (K, C, Fh, Fw) too). With C = 1 (or a 3-D array) the K
        filters are tiled in a near-square grid; with C > 1 filter k is row k and input
        channel c is column c.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when None.
    cmap : str
        Colour map; the default "gray" shows negative weights black, zero mid-grey and
        positive weights white.
    ncols : int, optional
        Tiles per row when C = 1 (default about sqrt(K), at most 8).
    labels : bool or list of str
        Write the filter index (or the given names, one per filter) above each tile
        (C = 1), or label rows and columns (C > 1).
    annotate : bool, optional
        Write each weight in its cell; by default only when every filter is small (F <= 5)
        and there are at most 16 tiles.

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    Each filter is scaled by its own largest absolute weight, so zero is always mid-grey
    and the pattern inside one filter is what the tile shows.
    """
    w = as_float_array(w, "plot_filters", "w", (3, 4))
    if w.ndim == 3:
        w = w[:, None]
    k, c, fh, fw = w.shape
    scaled = _scale_tiles(w.reshape(k, c * fh, fw), symmetric=True).reshape(w.shape)
    if annotate is None:
        annotate = max(fh, fw) <= 5 and k * c <= 16
    names = _tile_labels("plot_filters", labels, k)
    if c == 1:
        ncols = check_int(ncols, "plot_filters", "ncols", 1) if ncols is not None else \
            min(8, int(np.ceil(np.sqrt(k))))
    if ax is None:                        # about 0.45 in per cell when numbers are written
        across, down = (ncols, -(-k // ncols)) if c == 1 else (c, k)
        cell = 0.45 if annotate else _column_cell(max(0.05, 0.9 / max(fh, fw)),
                                                  across * (fw + 1), 1.2)
        _, ax = _subplots(figsize=(min(12, 1.2 + across * (fw + 1) * cell),
                                      min(12, 0.4 + down * (fh + 1.5) * cell)),
                             layout="constrained")
    if c == 1:
        return _draw_tiles(ax, w[:, 0], scaled[:, 0], ncols, cmap, -1, 1, names, annotate)
    _draw_tiles(ax, w.reshape(k * c, fh, fw), scaled.reshape(k * c, fh, fw), c, cmap,
                -1, 1, None, annotate)
    if names:
        hgap, vgap = max(1, round(0.25 * fw)), max(1, round(0.25 * fh))
        for ch in range(c):
            ax.text(ch * (fw + hgap) + (fw - 1) / 2, -0.6, f"channel {ch}", clip_on=False,
                    ha="center", va="bottom", fontsize=9)
        ax.set_ylim(k * (fh + vgap) - vgap - 0.5, -0.5 - max(2, vgap))   # room: see above
        for f in range(k):
            row_name = f"filter {f}" if labels is True else names[f]
            ax.text(-0.8, f * (fh + vgap) + (fh - 1) / 2, row_name, clip_on=False,
                    ha="right", va="center", fontsize=9)
    return ax


def plot_feature_maps(maps, ax=None, *, cmap="viridis", ncols=None, labels=None,
                      annotate=None, robust=False, vrange=None):
    """Draw one panel per channel of a stack of feature maps.

    Parameters
    ----------
    maps : array of shape (C, H, W) or (H, W)
        The feature maps (a single map when 2-D).
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when None.
    cmap : str
        A sequential colour map (default "viridis": dark = low, bright = high).
    ncols : int, optional
        Panels per row (default about sqrt(C), at most 8).
    labels : list of str or False, optional
        A title above each panel; default "map 0", "map 1", ...; False for none.
    annotate : bool, optional
        Write each value in its cell; by default only when a map has at most 144 cells
        and there are at most 4 maps.
    robust : bool
        Scale each map from its 1st to its 99th percentile instead of its minimum and
        maximum (clipping beyond), so a few extreme values do not wash out the rest.
    vrange : (lo, hi), optional
        One display range for every map (lo black, hi white, clipped beyond), so that the
        maps can be compared by eye; it takes the place of each map's own range.

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    Each map is scaled from its own minimum (darkest) to its own maximum (brightest), unless
    `vrange` gives one range for all.
    """
    maps = as_float_array(maps, "plot_feature_maps", "maps", (2, 3))
    if maps.ndim == 2:
        maps = maps[None]
    c, h, w = maps.shape
    labels = _tile_labels("plot_feature_maps", [f"map {i}" for i in range(c)]
                          if labels is None else labels, c)
    ncols = check_int(ncols, "plot_feature_maps", "ncols", 1) if ncols is not None else \
        min(8, int(np.ceil(np.sqrt(c))))
    if ax is None:
        nrows = -(-c // ncols)
        _, ax = _subplots(figsize=(min(10, 0.5 + 2.0 * ncols), min(10, 0.6 + 2.1 * nrows)))
    if annotate is None:
        annotate = h * w <= ANNOTATE_MAX_CELLS and c <= 4
    if vrange is not None:
        vrange = tuple(float(v) for v in vrange)
        if len(vrange) != 2 or not vrange[0] < vrange[1]:
            raise ValueError(f"plot_feature_maps: vrange must be (lo, hi) with lo < hi, got {vrange}")
    scaled = _scale_tiles(maps, symmetric=False, robust=robust, vrange=vrange)
    return _draw_tiles(ax, maps, scaled, ncols, cmap, 0, 1, labels, annotate)


def _step_arrays(func, x, w, i, j, stride, padding):
    """Validate the inputs of one convolution step; return padded x, w and the output size."""
    x = as_float_array(x, func, "x", (2, 3))
    w = as_float_array(w, func, "w", (2, 3))
    for name, arr in (("x", x), ("w", w)):
        if arr.ndim == 3 and arr.shape[0] != 1:
            raise ValueError(f"{func}: {name} must be one channel, (H, W) or (1, H, W), "
                             f"got shape {arr.shape}; draw one channel at a time")
    x, w = x.reshape(x.shape[-2:]), w.reshape(w.shape[-2:])
    stride = check_int(stride, func, "stride", 1)
    padding = check_int(padding, func, "padding", 0)
    xp = np.pad(x, padding)
    if w.shape[0] > xp.shape[0] or w.shape[1] > xp.shape[1]:
        raise ValueError(f"{func}: kernel w of shape {w.shape} is larger than the padded "
                         f"input of shape {xp.shape} (x.shape={x.shape}, padding={padding})")
    h_out = (xp.shape[0] - w.shape[0]) // stride + 1
    w_out = (xp.shape[1] - w.shape[1]) // stride + 1
    for name, v, n in (("i", i, h_out), ("j", j, w_out)):
        check_int(v, func, name, 0)
        if v >= n:
            raise ValueError(f"{func}: {name} must be < {n} (output size {h_out}x{w_out} "
                             f"for stride={stride}, padding={padding}), got {v}")
    return xp, w, stride, padding, (h_out, w_out)


def conv_output_so_far(xp, w, stride, i, j, b=0.0):
    """Output cells computed up to (i, j) in reading order; NaN for the cells still to come.

    Parameters
    ----------
    xp : array of shape (Hp, Wp)
        The padded input.
    w : array of shape (Fh, Fw)
        The kernel.

    Returns
    -------
    y : array of shape (H_out, W_out)
        y[r, s] = sum_m sum_n xp[S r + m, S s + n] w[m, n] + b, for (r, s) <= (i, j).
    """
    fh, fw = w.shape
    h_out = (xp.shape[0] - fh) // stride + 1
    w_out = (xp.shape[1] - fw) // stride + 1
    y = np.full((h_out, w_out), np.nan)
    for r in range(h_out):
        for s in range(w_out):
            if (r, s) <= (i, j):
                window = xp[stride * r:stride * r + fh, stride * s:stride * s + fw]
                y[r, s] = np.sum(window * w) + b
    return y


def step_figsize(padded_shape, kernel_shape, out_shape, cell=0.4, dpi=100):
    """Figure size (inches) for the four panels of a step: square cells of at most `cell`
    inches, smaller where that keeps the figure inside the page's column at `dpi` (a wider
    figure would be shrunk, and its numbers with it)."""
    rows = max(padded_shape[0], kernel_shape[0], out_shape[0])
    cols = padded_shape[1] + 2 * kernel_shape[1] + out_shape[1]
    cell = _column_cell(cell, cols, 0.8, dpi)
    return (cell * cols + 0.8, cell * rows + 1.0)


def _light_limits(values):
    """Colour limits that keep every cell light grey (larger = lighter, as in every figure of
    the book), so black numbers stay readable."""
    finite = values[np.isfinite(values)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    return lo - 1.2 * span, hi + 0.1 * span


class ConvStepDrawing:
    """The four panels of one convolution step, drawn once and then moved cell by cell.

    Parameters
    ----------
    axes : sequence of 4 matplotlib Axes
    xp : array of shape (Hp, Wp)
        The padded input.
    w : array of shape (Fh, Fw)
        The kernel.
    stride, padding : int
    b : float
    annotate : bool
    """

    def __init__(self, axes, xp, w, stride, padding, b, annotate):
        self.axes, self.xp, self.w, self.stride, self.b = axes, xp, w, stride, b
        fh, fw = w.shape
        self.y_full = conv_output_so_far(xp, w, stride, np.inf, np.inf, b)
        h_out, w_out = self.y_full.shape
        products = np.stack([self._window(r, s) * w for r in range(h_out) for s in range(w_out)])
        fs = 10 if max(xp.shape) <= 7 else 9
        self.annotate = annotate
        for ax in axes:
            ax.clear()
        _draw_input(axes[0], xp, padding, annotate, fs)
        self._kernel_panel(axes[1], w, "kernel w", annotate, fs)
        self.prod_img, self.prod_texts = self._panel(
            axes[2], products[0], products, "window × kernel\n(cell by cell)", annotate, fs)
        self.out_img, self.out_texts = self._panel(
            axes[3], np.full_like(self.y_full, np.nan), self.y_full, "output y", annotate, fs)
        self.prod_integral = bool(np.all(np.round(products) == products))
        self.out_integral = bool(np.all(np.round(self.y_full) == self.y_full))
        self.window = self._outline(axes[0], 0, 0, fw, fh)
        for ax in axes[1:3]:
            self._outline(ax, -0.5, -0.5, fw, fh)
        self.cell = self._outline(axes[3], -0.5, -0.5, 1, 1)

    def _window(self, i, j):
        s, (fh, fw) = self.stride, self.w.shape
        return self.xp[s * i:s * i + fh, s * j:s * j + fw]

    @staticmethod
    def _outline(ax, x0, y0, width, height):
        # a black edge under the orange: orange alone is 1.2-2.3:1 on the light cells
        return ax.add_patch(Rectangle((x0, y0), width, height, fill=False, edgecolor=HIGHLIGHT,
                                      linewidth=3.5, clip_on=False,
                                      path_effects=[withStroke(linewidth=6, foreground="black")]))

    @staticmethod
    def _kernel_panel(ax, w, title, annotate, fontsize):
        """The kernel on the book's weight scale, as plot_filters draws it: black the most
        negative weight, mid-grey zero, white the most positive; each number in black or
        white, whichever reads on its cell."""
        m = float(np.abs(w).max()) or 1.0
        img = ax.imshow(w, cmap="gray", vmin=-m, vmax=m, interpolation="nearest")
        _cell_grid(ax, *w.shape)
        ax.set_title(title, fontsize=9)
        if annotate:
            _annotate(ax, w, img.to_rgba(w), fontsize=fontsize)
        return img

    @staticmethod
    def _panel(ax, values, value_range, title, annotate, fontsize):
        """Light grey cells (lighter = larger) with one text artist per cell."""
        vmin, vmax = _light_limits(np.asarray(value_range))
        cm = matplotlib.colormaps["gray"].with_extremes(bad="white")
        img = ax.imshow(values, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
        _cell_grid(ax, *values.shape)
        ax.set_title(title, fontsize=9)
        texts = None
        if annotate:
            finite = np.asarray(value_range)[np.isfinite(value_range)]
            integral = bool(np.all(np.round(finite) == finite))
            texts = {(r, c): ax.text(c, r, "" if np.isnan(v) else _fmt(v, integral),
                                     ha="center", va="center", fontsize=fontsize)
                     for (r, c), v in np.ndenumerate(values)}
        return img, texts

    def update(self, i, j):
        """Show output cell (i, j): move the window, the products and the output so far."""
        prod = self._window(i, j) * self.w
        y = np.where(np.arange(self.y_full.size).reshape(self.y_full.shape)
                     <= i * self.y_full.shape[1] + j, self.y_full, np.nan)
        self.prod_img.set_data(prod)
        self.out_img.set_data(y)
        if self.annotate:
            for (r, c), t in self.prod_texts.items():
                t.set_text(_fmt(prod[r, c], self.prod_integral))
            for (r, c), t in self.out_texts.items():
                t.set_text("" if np.isnan(y[r, c]) else _fmt(y[r, c], self.out_integral))
        s = self.stride
        self.window.set_xy((s * j - 0.5, s * i - 0.5))
        self.cell.set_xy((j - 0.5, i - 0.5))
        self.axes[3].set_title(f"output y\ny[{i}, {j}] = {_fmt(self.y_full[i, j], False)}",
                               fontsize=9)


def plot_conv_step(x, w, i, j, stride=1, padding=0, axes=None, *, b=0.0, annotate=None):
    """Draw one step of a 2-D convolution (cross-correlation) in four panels.

    Panels: the padded input with the window of output cell (i, j) outlined; the kernel;
    their element-wise product; the output, filled in reading order up to cell (i, j),
    which holds the sum of the products (plus b).

    Parameters
    ----------
    x : array of shape (H, W) or (1, H, W)
        One channel of input.
    w : array of shape (F, F) or (1, F, F)
        One kernel (rectangular (Fh, Fw) too).
    i, j : int
        The output cell, 0 <= i < H_out, 0 <= j < W_out.
    stride, padding : int
        S >= 1 and P >= 0; the padding zeros are drawn black like any 0, their numbers in
        italics, outside a dashed line around the real image.
    axes : sequence of 4 matplotlib Axes, optional
        Where to draw; a new figure is made when None.
    b : float
        Bias added to every output cell.
    annotate : bool, optional
        Write the numbers in the cells; by default when the padded input has at most
        144 cells.

    Returns
    -------
    axes : array of 4 matplotlib Axes

    Notes
    -----
    y[i, j] = sum_m sum_n x_pad[S i + m, S j + n] w[m, n] + b, with
    H_out = floor((H + 2P - Fh) / S) + 1 (and the same for W_out).
    """
    drawing = _conv_step_drawing("plot_conv_step", x, w, i, j, stride, padding, axes, b,
                                 annotate)
    drawing.update(i, j)
    return drawing.axes


def _conv_step_drawing(func, x, w, i, j, stride, padding, axes, b, annotate, figure=None):
    """Validate, make the axes when needed (on `figure` if given) and draw the panels."""
    xp, w, stride, padding, (h_out, w_out) = _step_arrays(func, x, w, i, j, stride, padding)
    if axes is None:
        kw = dict(gridspec_kw={"width_ratios": [xp.shape[1], w.shape[1], w.shape[1], w_out]})
        if figure is None:
            _, axes = _subplots(1, 4, layout="constrained", **kw,
                                   figsize=step_figsize(xp.shape, w.shape, (h_out, w_out)))
        else:
            axes = figure.subplots(1, 4, **kw)
    axes = np.asarray(axes, dtype=object).ravel()
    if axes.size != 4:
        raise ValueError(f"{func}: axes must hold 4 Axes, got {axes.size}")
    if annotate is None:
        annotate = xp.size <= ANNOTATE_MAX_CELLS
    return ConvStepDrawing(axes, xp, w, stride, padding, float(b), bool(annotate))


def _draw_input(ax, xp, padding, annotate, fontsize):
    """The padded input in its own grey levels: 0 black, the largest value white (as the
    book says of images). Numbers in black or white, whichever reads on the cell; padding
    zeros look like any other 0, with their numbers in italics and the real image inside a
    dashed line (white and black dashes, seen on dark and light cells alike)."""
    h, w = xp.shape
    vmin = min(0.0, float(xp.min()))
    vmax = max(float(xp.max()), vmin + 1e-12)
    img = ax.imshow(xp, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    _cell_grid(ax, h, w, color="0.5")
    ax.set_title(f"input x\n(padding P={padding})" if padding else "input x", fontsize=9)
    if padding:
        for colour, style in (("white", "-"), ("black", (0, (3, 3)))):
            ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), w - 2 * padding,
                                   h - 2 * padding, fill=False, edgecolor=colour,
                                   linestyle=style, linewidth=1.6))
    if annotate:
        rgba, inner = img.to_rgba(xp), (slice(padding, h - padding), slice(padding, w - padding))
        _annotate(ax, xp[inner], rgba[inner], padding, padding, fontsize)
        for r, c in np.ndindex(h, w):
            if not (padding <= r < h - padding and padding <= c < w - padding):
                ax.text(c, r, "0", ha="center", va="center", fontsize=fontsize,
                        color=_ink(rgba[r, c]), style="italic")


def pool_winners(a, size):
    """(H, W) bool: the input of each `size` x `size` window (stride `size`) that max pooling
    keeps, as cnnlib picks it (the first maximum in reading order); `a` is (H, W)."""
    a = as_float_array(a, "pool_winners", "a", (2,))
    ones = np.ones((1, 1, a.shape[0] // size, a.shape[1] // size))
    return cnnlib.max_pool2d_backward(ones, a[None, None], size=size)[0, 0] != 0


def plot_number_grid(ax, a, title, *, windows=None, marked=None, scale=None):
    """Draw a small (H, W) array as a grid of numbers on grey cells (larger = brighter, kept
    light enough to read the numbers); thick black lines around each `windows` x `windows`
    block; a circle around each number where the (H, W) bool array `marked` is True. `scale`
    (lo, hi) is the range the greys span (several panels can share one). Returns `ax`."""
    a = as_float_array(a, "plot_number_grid", "a", (2,))
    h, w = a.shape
    if marked is not None and np.shape(marked) != a.shape:
        raise ValueError(f"plot_number_grid: marked must have the shape of a, {a.shape}; "
                         f"got {np.shape(marked)}")
    lo, hi = scale if scale is not None else (a.min(), a.max())
    hi = hi if hi > lo else lo + 1.0
    img = ax.imshow(a, cmap="gray", vmin=lo - 0.8 * (hi - lo), vmax=hi + 0.2 * (hi - lo))
    rgba, integral = img.to_rgba(a), bool(np.all(a == np.round(a)))
    for i, j in np.ndindex(h, w):
        bold, ink = marked is not None and bool(marked[i, j]), _ink(rgba[i, j])
        ax.text(j, i, _fmt(a[i, j], integral), ha="center", va="center", fontsize=14, color=ink,
                fontweight="bold" if bold else "normal")
        if bold:
            ax.add_patch(Circle((j, i), 0.36, fill=False, lw=2, color=ink))
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.6", lw=0.8)
    if windows:
        windows = check_int(windows, "plot_number_grid", "windows", 1)
        for k in range(0, h + 1, windows):
            ax.axhline(k - 0.5, color="black", lw=3)
        for k in range(0, w + 1, windows):
            ax.axvline(k - 0.5, color="black", lw=3)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title)
    return ax


# ------------------------------------------------------------ what several chapters show
#: The 4 x 4 feature map that 07_pooling pools and 08_putting_it_together backpropagates.
POOLING_EXAMPLE = ((1, 3, 2, 0),
                   (5, 6, 1, 4),
                   (7, 2, 0, 3),
                   (1, 0, 3, 8))
#: The narrow LeNet of 08_putting_it_together ("small CNN"), ``lenet_digits(**NARROW_LENET)``;
#: 07c_how_a_network_learns trains "the narrow one of the next chapter".
NARROW_LENET = {"channels": (8, 16), "hidden": 32}
#: The mini-batch 08_putting_it_together trains with; 07b_one_by_one measures its activations.
DIGITS_BATCH = 32


def same_layers(model, other, in_shape=(1, 8, 8)):
    """Whether two models have the same layers, hyperparameters and output shapes (their
    summaries for one input of `in_shape` are equal); the weights may differ."""
    return model.summary(in_shape) == other.summary(in_shape)


def pipeline_cnn(rng=None):
    """The network of 02_what_is_a_cnn: two 3 x 3 convolutions (8 and 16 filters, "same"
    padding) with ReLUs, no pooling, then one dense layer to 10 scores, for (N, 1, 8, 8) digits.
    08_putting_it_together recalls where its parameters are."""
    rng = np.random.default_rng(0) if rng is None else rng
    return cnnlib.Sequential(
        cnnlib.Conv2D(1, 8, kernel_size=3, padding=1, rng=rng), cnnlib.ReLU(),
        cnnlib.Conv2D(8, 16, kernel_size=3, padding=1, rng=rng), cnnlib.ReLU(),
        cnnlib.Flatten(), cnnlib.Dense(16 * 8 * 8, 10, rng=rng))
