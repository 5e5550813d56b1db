"""A few worker threads for cnnlib's fast paths (NumPy and BLAS release the GIL while they work).

``run_parts(work, n)`` calls ``work(0) ... work(n - 1)``: part 0 on the calling thread, the
others on a few kept worker threads, and returns when all are done. It degrades to a plain
loop on the calling thread when there is nothing to share (n == 1, one CPU,
``CNNLIB_NUM_THREADS=1``), when called from inside a worker or while another thread uses the
workers, and when no thread can be started (for example under a process limit in a sandbox).
After a ``fork`` the child starts its own workers on first use. Two threads only pay when
each part is a few large NumPy operations (NOTES.md); the callers size their parts accordingly.
"""
import contextlib
import functools
import os
import threading
import time

__all__ = ["num_threads", "run_parts", "machine_busy", "one_blas_thread", "blas_threads", "settle"]

_team, _blas_lock = threading.Lock(), threading.Lock()   # _team: held while the workers are in use
_workers = []
_local = threading.local()


def num_threads():
    """How many threads a fast path may use: the CPUs this process may run on (at most 8),
    or the environment variable ``CNNLIB_NUM_THREADS`` (an integer >= 1)."""
    setting = os.environ.get("CNNLIB_NUM_THREADS", "").strip()
    if setting.isdigit() and int(setting) >= 1:
        return int(setting)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not on Linux, or refused
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def machine_busy():
    """Whether the 1-minute load average exceeds ``num_threads()`` (a second thread would wait)."""
    try:
        return os.getloadavg()[0] > num_threads()
    except (AttributeError, OSError):   # no load average on this system
        return False


def running_threads():
    """How many threads of this process, other than the calling one, are on a CPU or waiting
    for one (state R in /proc/self/task); 0 where there is no /proc."""
    me, n = threading.get_native_id(), 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
                n += int(tid) != me and fh.read().rsplit(b")", 1)[1].split()[0] == b"R"
        except (OSError, IndexError, ValueError):   # the thread ended meanwhile
            pass
    return n


def settle(limit=0.2, poll=0.002):
    """Wait until no other thread of this process runs, at most about ``limit`` seconds.

    After a product on several threads, OpenBLAS's idle workers spin on the CPUs for about
    0.1 s; whatever is timed meanwhile shares its CPUs with them (NOTES.md: calibration).
    """
    for _ in range(max(1, round(limit / poll))):   # counted, not clocked: tests fake the clock
        if not running_threads():
            return
        time.sleep(poll)


@functools.lru_cache(maxsize=None)
def _blas_libs():
    try:
        from threadpoolctl import ThreadpoolController   # comes with scikit-learn
        return ThreadpoolController().select(user_api="blas").lib_controllers
    except ImportError:
        return []


def blas_threads():
    """The most threads a BLAS library of this process may use now (1 without threadpoolctl)."""
    return max((lib.get_num_threads() for lib in _blas_libs()), default=1)


@contextlib.contextmanager
def one_blas_thread(needed=True):
    """BLAS on one thread inside, unless not ``needed`` or another thread is inside (then BLAS
    keeps its own). Each count is set directly: threadpoolctl's ``limit`` costs more (NOTES.md)."""
    if not needed or not _blas_lock.acquire(blocking=False):
        yield
        return
    before = [(lib, lib.get_num_threads()) for lib in _blas_libs()]
    try:
        for lib, _ in before:
            lib.set_num_threads(1)
        yield
    finally:
        for lib, threads in before:
            lib.set_num_threads(threads)
        _blas_lock.release()


class _Worker:
    """A kept thread that runs one part at a time, handed over by two locks (NOTES.md: threads);
    ``job`` is (work, i) while the part runs, then None or the exception it raised."""

    def __init__(self):
        self.go, self.done, self.job = threading.Lock(), threading.Lock(), None
        self.go.acquire(), self.done.acquire()
        threading.Thread(target=self._loop, daemon=True, name="cnnlib").start()

    def _loop(self):
        _local.in_worker = True
        while self.go.acquire():
            work, i = self.job
            try:
                work(i)
                self.job = None
            except BaseException as exc:   # noqa: BLE001 - re-raised by run_parts
                self.job = exc
            self.done.release()


def _forget_workers():         # after fork the child has none of the parent's threads
    global _team
    _workers.clear()
    _team = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def run_parts(work, n, inline=False):
    """Call ``work(i)`` for i in range(n), in parallel where possible (in turn on the calling
    thread if ``inline``); return when all finished.

    The first exception raised by any part is re-raised (after every part has stopped).
    """
    if n <= 1 or inline or getattr(_local, "in_worker", False) or not _team.acquire(blocking=False):
        for i in range(n):
            work(i)
        return
    errors = []
    with contextlib.suppress(RuntimeError):     # no more threads can start: the caller runs the rest
        while len(_workers) < n - 1:
            _workers.append(_Worker())
    try:
        started = _workers[:n - 1]
        for i, worker in enumerate(started, 1):
            worker.job = (work, i)
            worker.go.release()
        for i in [0, *range(len(started) + 1, n)]:
            try:
                work(i)
            except BaseException as exc:   # noqa: BLE001 - re-raised below, after the others stop
                errors.append(exc)
        for worker in started:
            worker.done.acquire()
            errors.append(worker.job)
            worker.job = None
    except BaseException:           # interrupted while waiting: drop the workers, keep going next time
        _workers.clear()
        raise
    finally:
        _team.release()
    for error in filter(None, errors):
        raise error
