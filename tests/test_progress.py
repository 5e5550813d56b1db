"""The progress display of `make grade` (grading/progress.py)."""
from __future__ import annotations

import io

from grading.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_duration_reads_like_a_person_writes():
    assert [duration(s) for s in (0, 42.4, 60, 185, 3600 + 125)] == \
        ["0 s", "42 s", "1 min 00 s", "3 min 05 s", "1 h 02 min"]


def test_plain_lines_with_done_total_rate_and_time_left():
    out, clock = io.StringIO(), Clock()
    p = Progress(10, out, clock)
    p.record("ada/02_convolution", "unchanged", 0.0)          # skipped: no rate yet
    p.start()
    clock.now += 4.0
    p.record("bob/02_convolution", "graded", 3.5, n_flags=2)   # 1 in 4 s -> 0.25/s, 8 left -> 32 s
    p.tick(running=3)                                          # not a terminal: nothing drawn
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[ 1/10] ada/02_convolution") and lines[0].rstrip().endswith("0.0 s")
    assert lines[1].startswith("[ 2/10] bob/02_convolution")
    assert " graded " in lines[1] and "[2 flag(s)]" in lines[1]
    assert lines[1].endswith("0.25/s, ~32 s left")
    assert "\r" not in out.getvalue() and len(lines) == 2


def test_terminal_gets_a_status_line_that_is_cleared_before_each_line():
    out, clock = Tty(), Clock()
    p = Progress(3, out, clock)
    p.start()
    clock.now += 10.0
    p.tick(running=2)
    assert out.getvalue().endswith("grading: 0/3 done, 2 running (10 s so far)")
    p.record("ada/01_mlp", "graded", 9.0)
    text = out.getvalue()
    assert "\r\033[K[1/3] ada/01_mlp" in text and text.endswith("0.10/s, ~20 s left\n")
    p.tick(running=1)
    p.close()
    assert out.getvalue().endswith("\r\033[K")
