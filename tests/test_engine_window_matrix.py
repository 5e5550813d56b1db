"""Tests for cnnlib.engine.window_matrix: the per-thread cache, Geometry's phase layout and phase_im2col."""
import threading

import numpy as np
import pytest

from cnnlib.engine import window_matrix
from cnnlib.engine.window_matrix import Geometry, cached, clear_cache, phase_im2col, phases, view


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_cache_keeps_at_most_cache_bytes(monkeypatch):
    """Least recently used entries go once the cache holds more than CACHE_BYTES."""
    monkeypatch.setattr(window_matrix, "CACHE_BYTES", 3000)
    a = cached("a", lambda: np.zeros(250))       # 2000 bytes
    assert cached("a", lambda: None) is a
    cached("b", lambda: np.zeros(125))           # 1000 bytes: 3000 in all, both kept
    assert cached("a", lambda: None) is a        # "a" is now the most recently used
    cached("c", lambda: np.zeros(125))           # 4000 bytes: the LRU entry "b" goes
    assert list(window_matrix._local.cache) == ["a", "c"]


def test_each_thread_has_its_own_cache():
    mine = cached("k", lambda: np.zeros(3))
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(cached("k", lambda: np.ones(3))))
    t.start()
    t.join()
    assert theirs[0] is not mine and theirs[0][0] == 1 and mine[0] == 0


def test_view_counts_offsets_and_strides_in_elements():
    base = np.arange(12.0)
    np.testing.assert_array_equal(view(base, 1, (2, 3), (4, 1)), [[1, 2, 3], [5, 6, 7]])


@pytest.mark.parametrize("stride, padding", [((1, 1), (1, 1)), ((2, 3), (2, 0)), ((3, 2), (0, 1))])
def test_phases_and_phase_im2col_hold_every_window(stride, padding):
    """Column (n, i, j) of phase_im2col's matrix is the window of output (i, j) of image n, row order
    (c, m, l), last row ones; the phase buffer holds the zero-padded input."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 9, 8))
    (sh, sw), (ph, pw), (fh, fw) = stride, padding, (3, 2)
    Ho, Wo = (9 + 2 * ph - fh) // sh + 1, (8 + 2 * pw - fw) // sw + 1
    g = Geometry(x.shape, (fh, fw), stride, padding, (Ho, Wo))
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    xq = phases(x, g, np.float64)
    for a in range(sh):
        for b in range(sw):
            grid = xq[a, b, :, :g.L].reshape(3, 2, g.Hq, g.Wq)
            part = xpad[:, :, a::sh, b::sw].transpose(1, 0, 2, 3)
            np.testing.assert_array_equal(grid[:, :, :part.shape[2], :part.shape[3]], part)
    cols = phase_im2col(x, g, np.float64).reshape(-1, 2, g.Hq, g.Wq)
    assert (cols[-1] == 1).all()
    for n in range(2):
        for i in range(Ho):
            for j in range(Wo):
                window = xpad[n, :, sh * i:sh * i + fh, sw * j:sw * j + fw].ravel()
                np.testing.assert_array_equal(cols[:-1, n, i, j], window)
