"""Tests for book/readable_text.py: figure text is measured as the page shows it, and the
hook that the chapters' matplotlibrc installs warns (so the build fails) on text too small."""
import io
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"
sys.path.insert(0, str(BOOK))                      # the chapters import it from their folder
from readable_text import COLUMN_PX, MIN_TEXT_PX, small_texts  # noqa: E402

HOOK = {"figure.hooks": ["readable_text:watch"]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _png(fig):
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def test_a_figure_inside_the_column_keeps_its_point_sizes():
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.set_title("title", fontsize=7)              # 7 pt at 100 dpi: 9.72 px, not shrunk
    ax.set_xlabel("label", fontsize=8)             # 11.11 px
    assert small_texts(fig) == [(9.72, "title")]


def test_a_wide_figure_is_shrunk_to_the_column_and_its_text_with_it():
    fig, ax = plt.subplots(figsize=(14, 3), dpi=100)
    ax.set_title("wide", fontsize=20)
    small = small_texts(fig)
    assert small and {text for _, text in small} >= {"0.0", "1.0"}     # 10-pt tick labels
    assert "wide" not in {text for _, text in small}                 # 20 pt stays readable
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    buf.seek(0)
    width = plt.imread(buf).shape[1]                # what the page shrinks to COLUMN_PX
    assert width > COLUMN_PX
    assert small[0][0] == pytest.approx(10 * 100 / 72 * COLUMN_PX / width, abs=0.06)


def test_text_that_is_not_drawn_does_not_count():
    fig, ax = plt.subplots(figsize=(14, 3), dpi=100)
    ax.set_axis_off()                                # tick labels exist, but are not drawn
    ax.text(0.5, 0.5, " ", fontsize=2)               # nothing to read
    assert small_texts(fig) == []


def test_an_animation_frame_keeps_the_figure_size():
    fig = Figure(figsize=(6, 3), dpi=60)             # fits the column at 60 dpi: not shrunk
    fig.text(0.5, 0.5, "nine", fontsize=9)           # 9 pt at 60 dpi = 7.5 px
    assert small_texts(fig, tight=False) == [(7.5, "nine")]
    fig.texts[0].set_fontsize(12)                    # 10 px: enough
    assert small_texts(fig, tight=False) == []


def test_the_hook_warns_when_a_figure_is_shown_with_small_text():
    with matplotlib.rc_context(HOOK):
        fig, ax = plt.subplots(figsize=(14, 3))
    with pytest.warns(UserWarning, match=f"under the {MIN_TEXT_PX} px a reader needs: '0.0'"):
        _png(fig)


def test_the_hook_is_quiet_for_a_readable_figure_and_warns_once():
    with matplotlib.rc_context(HOOK):
        fine, ax = plt.subplots(figsize=(6, 3))
        ax.set_title("readable")
        wide, _ = plt.subplots(figsize=(14, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _png(fine)
    with pytest.warns(UserWarning) as caught:
        _png(wide)
        _png(wide)
    assert len(caught) == 1


def test_the_chapters_matplotlibrc_installs_the_hook_and_nothing_else():
    rc = matplotlib.rc_params_from_file(BOOK / "matplotlibrc", use_default_template=False)
    assert dict(rc) == {"figure.hooks": ["readable_text:watch"]}
