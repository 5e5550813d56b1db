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
    p.sending(workers=1)
    for student in ("bob", "cy", "dee"):                       # 3 in 12 s -> 0.25/s, 6 left -> 24 s
        clock.now += 4.0
        p.record(f"{student}/02_convolution", "graded", 3.5, n_flags=2, on_cluster=True)
    p.tick(running=3)                                          # not a terminal: nothing drawn
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[ 1/10] ada/02_convolution") and lines[0].rstrip().endswith("0.0 s")
    assert lines[1].startswith("[ 2/10] bob/02_convolution")
    assert " graded " in lines[1] and "[2 flag(s)]" in lines[1]
    assert lines[1].endswith("[2 flag(s)]") and lines[2].endswith("[2 flag(s)]")   # no rate yet
    assert lines[3].endswith("0.25/s, ~24 s left")
    assert "\r" not in out.getvalue() and len(lines) == 4


def test_terminal_gets_a_status_line_that_is_cleared_before_each_line():
    out, clock = Tty(), Clock()
    p = Progress(4, out, clock)
    p.start()
    p.sending(workers=1)
    clock.now += 10.0
    p.tick(running=2)
    assert out.getvalue().endswith("grading: 0/4 done, 2 running (10 s so far)")
    for student in ("ada", "ben", "cy"):
        p.record(f"{student}/01_mlp", "graded", 9.0, on_cluster=True)
    text = out.getvalue()
    assert "\r\033[K[1/4] ada/01_mlp" in text and text.endswith("0.30/s, ~3 s left\n")
    p.tick(running=1)
    assert out.getvalue().endswith("grading: 3/4 done, 1 running, 0.30/s, ~3 s left (10 s so far)")
    p.close()
    assert out.getvalue().endswith("\r\033[K")


def batch_of_two_workers(clock, out):
    """Two workers, ten submissions: the cluster takes 30 s to start, one submission is kept
    off it by pre-flight; then each worker grades one every 10 s, both started together."""
    p = Progress(10, out, clock)
    p.start()
    clock.now += 30.0                                          # the cluster starts
    p.sending(workers=2)
    p.record("ann/a", "not graded", 0.0, 1)                    # pre-flight: not on the cluster
    return p


def test_no_time_left_until_every_worker_has_finished_one_and_a_few_are_graded():
    """This batch used to show "~4 min 30 s left" at its first line (the pre-flight failure
    over the 30 s of start-up) and "~2 min 40 s" at the first graded one (one result where two
    workers had each nearly finished one), when 40 s were left."""
    out, clock = io.StringIO(), Clock()
    p = batch_of_two_workers(clock, out)
    clock.now += 10.0
    p.record("bob/a", "graded", 10.0, on_cluster=True)         # worker 1's first
    p.record("cy/a", "graded", 10.0, on_cluster=True)          # worker 2's first
    assert p.rate() is None and "left" not in out.getvalue()   # two results: not yet a few
    clock.now += 10.0
    p.record("dee/a", "graded", 10.0, on_cluster=True)         # 3 in 20 s since the first was sent
    assert p.rate() == 3 / 20
    assert out.getvalue().splitlines()[-1].endswith("0.15/s, ~40 s left")   # 6 left
    p.record("eve/a", "graded", 10.0, on_cluster=True)         # 4 in 20 s: 5 left in 25 s
    assert out.getvalue().splitlines()[-1].endswith("0.20/s, ~25 s left")


def test_more_workers_than_a_few_wait_for_one_result_each():
    """Eight workers: seven results are seven firsts, not a rate."""
    out, clock = io.StringIO(), Clock()
    p = Progress(40, out, clock)
    p.start()
    p.sending(workers=8)
    clock.now += 12.0
    for i in range(7):
        p.record(f"s{i}/a", "graded", 12.0, on_cluster=True)
    assert p.rate() is None
    p.record("s7/a", "graded", 12.0, on_cluster=True)
    assert p.rate() == 8 / 12 and out.getvalue().endswith("0.67/s, ~48 s left\n")   # 32 left


def test_submissions_kept_off_the_cluster_do_not_make_the_rate():
    """Pre-flight failures are recorded in a burst when the cluster is up: they took no time."""
    out, clock = io.StringIO(), Clock()
    p = batch_of_two_workers(clock, out)
    for i in range(5):
        p.record(f"off{i}/a", "not graded", 0.0, 1)
    assert p.rate() is None and p.graded == 0 and p.done == 6


def test_one_line_for_the_submissions_unchanged_without_flags():
    """A MOOC's re-run after ten new hand-ins printed 1,990 lines "unchanged  0.0 s" first.
    Now one line counts them; the flagged and the not graded keep their own, numbered after it,
    and the counter of the graded ones still ends at 2000/2000."""
    out = io.StringIO()
    p = Progress(2000, out, Clock())
    kept = [(f"s{i}/a", True, 0) for i in range(1987)]
    kept[5:5] = [("bo/a", True, 1), ("cy/a", False, 2), ("di/a", False, 0)]
    p.unchanged(kept)
    p.start()
    p.sending(workers=1)
    for i in range(10):
        p.record(f"new{i}/a", "graded", 1.0, on_cluster=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("1987 of 2000 submission(s) unchanged since their last grading, without "
                        "flags: not graded again (--force grades them again)")
    assert lines[1].startswith("[1988/2000] bo/a ") and lines[1].endswith("[1 flag(s)]")
    assert lines[2].startswith("[1989/2000] cy/a ") and lines[2].endswith("[2 flag(s)]  not graded")
    assert lines[3].startswith("[1990/2000] di/a ") and lines[3].endswith("0.0 s  not graded")
    assert " unchanged " in lines[1] + lines[2] + lines[3]
    assert lines[4].startswith("[1991/2000] new0/a ") and lines[-1].startswith("[2000/2000] new9/a ")
    assert len(lines) == 14


def test_no_count_line_when_every_unchanged_one_has_its_own():
    out = io.StringIO()
    p = Progress(2, out, Clock())
    p.unchanged([("bo/a", True, 1)])
    assert out.getvalue().splitlines() == [
        "[1/2] bo/a                                     unchanged    0.0 s  [1 flag(s)]"]


def test_the_rate_follows_the_workers_there_are_now():
    """Two workers grade one each every 10 s; at 20 s one leaves. The rate over the whole
    batch (5 in 30 s, 0.17/s) still counted the gone worker's pace: one worker left grades
    0.10/s, and the 5 left take 50 s, not 30."""
    out, clock = io.StringIO(), Clock()
    p = Progress(10, out, clock)
    p.start()
    p.sending(workers=2)
    for _ in range(2):                                         # 4 graded in 20 s by 2 workers
        clock.now += 10.0
        p.record("x/a", "graded", 10.0, on_cluster=True)
        p.record("y/a", "graded", 10.0, on_cluster=True)
    assert p.rate() == 4 / 20
    p.sending(workers=1)                                       # one machine left the cluster
    assert p.rate() == 4 / 40 * 1                              # its pace: 1 per 10 s per thread
    clock.now += 10.0
    p.record("z/a", "graded", 10.0, on_cluster=True)           # 5 in 50 worker-seconds
    assert p.rate() == 5 / 50 and out.getvalue().endswith("0.10/s, ~50 s left\n")
    p.sending(workers=4)                                       # three joined: 4 threads' pace
    assert p.rate() == 5 / 50 * 4 and p.estimate() == "0.40/s, ~12 s left"
    p.sending(workers=0)                                       # none left: the batch waits
    assert p.rate() is None and p.estimate() == ""
    clock.now += 60.0                                          # a minute without workers
    p.sending(workers=2)                                       # does not lower the rate
    assert p.rate() == 5 / 50 * 2
