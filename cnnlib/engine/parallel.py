"""A few worker threads for cnnlib's fast paths (NumPy and BLAS release the GIL while they work).

``run_parts(work, n)`` calls ``work(0) ... work(n - 1)``: part 0 on the calling thread, the
others on a small shared pool, and returns when all are done. It degrades to a plain loop on
the calling thread when there is nothing to share (n == 1, one CPU, ``CNNLIB_NUM_THREADS=1``),
when called from inside a worker, after a ``fork`` (the child starts a fresh pool on first use),
or when no thread can be started (for example under a process limit in a sandbox).

Two threads only pay when each part is a few large NumPy operations; with many small ones,
handing the GIL back and forth costs more than the second core gives (NOTES.md). The callers
size their parts accordingly.
"""
import concurrent.futures
import contextlib
import functools
import os
import threading

__all__ = ["num_threads", "run_parts", "machine_busy", "one_blas_thread"]

_lock, _blas_lock = threading.Lock(), threading.Lock()
_pool = None
_local = threading.local()


def num_threads():
    """How many threads a fast path may use: the CPUs this process may run on (at most 8).

    The environment variable ``CNNLIB_NUM_THREADS`` (an integer >= 1) overrides it.
    """
    setting = os.environ.get("CNNLIB_NUM_THREADS", "").strip()
    if setting.isdigit() and int(setting) >= 1:
        return int(setting)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def machine_busy():
    """Whether the CPUs are already busy: the 1-minute load average exceeds ``num_threads()``.

    On a busy machine a second thread waits for a CPU instead of helping (NOTES.md).
    """
    try:
        return os.getloadavg()[0] > num_threads()
    except (AttributeError, OSError):   # no load average on this system
        return False


@functools.lru_cache(maxsize=None)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController   # comes with scikit-learn
        return ThreadpoolController().select(user_api="blas")
    except ImportError:
        return None


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread inside, unless another thread is inside (then BLAS keeps its own)."""
    controller = _blas_controller()
    if controller is None or not _blas_lock.acquire(blocking=False):
        yield
        return
    try:
        with controller.limit(limits=1):
            yield
    finally:
        _blas_lock.release()


def _forget_pool():
    """After fork the child has none of the parent's threads: start a new pool when needed."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool(workers):
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < workers:
            if _pool is not None:      # too small: its idle threads end, a bigger pool takes over
                _pool.shutdown(wait=False)
            _pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="cnnlib")
        return _pool


def _in_worker(work, i):
    _local.in_worker = True
    try:
        return work(i)
    finally:
        _local.in_worker = False


def run_parts(work, n, inline=False):
    """Call ``work(i)`` for i in range(n), in parallel where possible (in turn on the calling
    thread if ``inline``); return when all finished.

    The first exception raised by any part is re-raised (after every part has stopped).
    """
    if n <= 1 or inline or getattr(_local, "in_worker", False):
        for i in range(n):
            work(i)
        return
    futures, inline = [], []
    try:
        pool = _get_pool(n - 1)
        for i in range(1, n):
            futures.append(pool.submit(_in_worker, work, i))
    except RuntimeError:            # no thread could be started, or the interpreter is exiting
        inline = list(range(len(futures) + 1, n))
    error = None
    for i in [0] + inline:
        try:
            work(i)
        except BaseException as exc:   # noqa: BLE001 - re-raised below, after the others stop
            error = error or exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:   # noqa: BLE001
            error = error or exc
    if error is not None:
        raise error
