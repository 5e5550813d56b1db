"""The progress display of `make grade`: done / total, rate and time left.

One line per finished submission, always (CI logs and scripts read these):

    [ 12/300] ada/02_convolution    graded      3.1 s   0.71/s, ~6 min 43 s left

Before them, one line counts the submissions that are not graded again (unchanged since their
last grading, without flags): a MOOC's re-run would otherwise print thousands of lines before
the new ones. The counter goes on from them. Those with flags, and those left "not graded",
keep their own line, since a person must still look at them:

    1985 of 2000 submission(s) unchanged since their last grading, without flags: not graded
    again (--force grades them again)
    [1986/2000] bo/02_convolution       unchanged   0.0 s  [1 flag(s)]

On a terminal a status line below them is redrawn every second while the batch runs, so a
long submission does not look like a hang:

    grading: 12/300 done, 4 running, 0.71/s, ~6 min 43 s left (17 s so far)

The rate is measured, never guessed: submissions graded on the cluster per second since the
first was sent to it. It is shown (with the time left) only once every worker has finished
one, and at least `FIRST_ESTIMATE_AFTER`: the first results are the first task of each
worker, started together, and one result after T seconds of N workers is N results in T
seconds (the rate of one result alone was N times too low, its time left N times too long).
Neither the cluster's start-up nor submissions that pre-flight kept off the cluster (recorded
at once) count toward it.

Workers join and leave a cluster of machines mid-batch (`sending` is told each new count).
The rate is that of one worker thread, measured over all the batch, times the threads there
are now: results / worker-seconds (each period's length times its count of threads), times
the current count. A batch that lost one of two workers after 20 s of 0.2/s so shows 0.1/s
at once, not a rate that still counts the gone worker's pace for the whole batch; one that
gained workers shows their share before their first results. With no worker left, no rate
and no time left are shown (the batch waits).
"""
from __future__ import annotations

import sys
import time

FIRST_ESTIMATE_AFTER = 3   # submissions graded on the cluster before a first rate is shown


def duration(seconds: float) -> str:
    """42 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts finished submissions of a batch and prints them."""

    def __init__(self, total: int, stream=None, clock=time.monotonic):
        self.total = total
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.clock = clock
        self.done = 0
        self.t0 = None           # when grading started (after the unchanged ones were counted)
        self.sent_at = None      # when the first submission was sent to the cluster
        self.workers = 1         # worker threads of the cluster now
        self.first_workers = 1   # ... when the first submission was sent
        self.graded = 0          # submissions graded on the cluster since `sent_at`
        self.worker_seconds = 0.0   # threads x seconds from `sent_at` to `counted_to`
        self.counted_to = None
        self._status_shown = False

    def start(self) -> None:
        """The batch starts (the status line counts its seconds from here)."""
        self.t0 = self.clock()

    def unchanged(self, kept: list[tuple[str, bool, int]]) -> None:
        """Count the submissions not graded again: (key, graded, number of flags) each.

        One line for those graded before without flags; each other one keeps its own line
        ("not graded" at its end when no grade could be given), numbered after them.
        """
        quiet = [key for key, graded, n_flags in kept if graded and not n_flags]
        if quiet:
            self.done += len(quiet)
            print(f"{len(quiet)} of {self.total} submission(s) unchanged since their last "
                  f"grading, without flags: not graded again (--force grades them again)",
                  file=self.stream, flush=True)
        for key, graded, n_flags in kept:
            if not graded or n_flags:
                self.record(key, "unchanged", 0.0, n_flags, note="" if graded else "not graded")

    def sending(self, workers: int) -> None:
        """Submissions go to ``workers`` worker threads now: the rate counts from the first
        call, and each later call (workers joined or left) counts the time before it at the
        count before it."""
        now = self.clock()
        if self.sent_at is None:
            self.sent_at, self.first_workers = now, max(1, workers)
        else:
            self.worker_seconds = self._worker_seconds(now)
        self.workers, self.counted_to = max(0, workers), now

    def _worker_seconds(self, now: float) -> float:
        return self.worker_seconds + self.workers * (now - self.counted_to)

    def rate(self) -> float | None:
        """Submissions graded on the cluster per second with the workers there are now, None
        until a first estimate is fair or while no worker is left."""
        if self.sent_at is None or not self.workers or \
                self.graded < max(FIRST_ESTIMATE_AFTER, self.first_workers):
            return None
        return self.graded / max(self._worker_seconds(self.clock()), 1e-6) * self.workers

    def estimate(self) -> str:
        rate = self.rate()
        if rate is None:
            return ""
        left = (self.total - self.done) / rate
        return f"{rate:.2f}/s, ~{duration(left)} left" if self.done < self.total else f"{rate:.2f}/s"

    def record(self, key: str, status: str, seconds: float, n_flags: int = 0,
               on_cluster: bool = False, note: str = "") -> None:
        """One submission finished (``on_cluster``: a worker graded it) or was skipped: print
        its line (``note`` at its end)."""
        self.done += 1
        if on_cluster and self.sent_at is not None:
            self.graded += 1
        width = len(str(self.total))
        flag = (f"  [{n_flags} flag(s)]" if n_flags else "") + (f"  {note}" if note else "")
        line = f"[{self.done:>{width}}/{self.total}] {key:<40} {status:<10} {seconds:5.1f} s{flag}"
        estimate = self.estimate() if status != "unchanged" else ""
        self._clear()
        print(line + (f"   {estimate}" if estimate else ""), file=self.stream, flush=True)

    def tick(self, running: int) -> None:
        """Redraw the status line (terminals only)."""
        if not self.tty or self.t0 is None:
            return
        estimate = self.estimate()
        text = (f"grading: {self.done}/{self.total} done, {running} running"
                + (f", {estimate}" if estimate else "")
                + f" ({duration(self.clock() - self.t0)} so far)")
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._status_shown = True

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._status_shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._status_shown = False
