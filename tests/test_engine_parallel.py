"""Tests for cnnlib.engine.parallel: run_parts, its fallbacks, errors, fork and the thread count."""
import os
import threading

import numpy as np
import pytest

from cnnlib import conv2d
from cnnlib.engine import parallel, plans as conv_plans, window_matrix


def test_every_part_runs_once_and_part_zero_on_the_caller():
    seen, lock = [], threading.Lock()

    def work(i):
        with lock:
            seen.append((i, threading.current_thread() is threading.main_thread()))

    parallel.run_parts(work, 5)
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3, 4]
    assert (0, True) in seen


def test_parts_really_run_at_the_same_time():
    """Two parts that each wait for the other can only finish if they run concurrently."""
    barrier = threading.Barrier(2, timeout=10)
    parallel.run_parts(lambda i: barrier.wait(), 2)


def test_an_error_in_any_part_is_raised_after_all_parts_stop():
    finished = []

    def work(i):
        if i == 2:
            raise ValueError("part 2 failed")
        finished.append(i)

    with pytest.raises(ValueError, match="part 2 failed"):
        parallel.run_parts(work, 4)
    assert sorted(finished) == [0, 1, 3]


def test_nested_calls_run_inline_instead_of_deadlocking():
    inner = []

    def work(i):
        parallel.run_parts(lambda j: inner.append((i, j)), 3)

    parallel.run_parts(work, 2)
    assert sorted(inner) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_when_no_thread_can_start_everything_runs_on_the_caller(monkeypatch):
    def refusing():
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(parallel, "_workers", [])
    monkeypatch.setattr(parallel, "_Worker", refusing)
    seen = []
    parallel.run_parts(seen.append, 3)
    assert sorted(seen) == [0, 1, 2]


def test_a_second_caller_runs_its_parts_itself_while_the_workers_are_busy():
    inner = []

    def work(i):
        if i == 1:      # on a worker: another thread calls run_parts meanwhile
            other = threading.Thread(target=parallel.run_parts,
                                     args=(lambda j: inner.append((j, threading.get_ident())), 2))
            other.start()
            other.join()
            inner.append(other.ident)

    parallel.run_parts(work, 2)
    ident = inner.pop()
    assert inner == [(0, ident), (1, ident)]


def test_workers_are_kept_between_calls_and_clean_after_an_error():
    parallel.run_parts(lambda i: None, 2)
    kept = list(parallel._workers)
    with pytest.raises(KeyError):
        parallel.run_parts(lambda i: {}[i], 2)
    seen = []
    parallel.run_parts(seen.append, 2)
    assert sorted(seen) == [0, 1] and parallel._workers[:1] == kept[:1]
    assert all(worker.job is None for worker in parallel._workers)


@pytest.mark.parametrize("setting, expected", [("1", 1), ("3", 3), ("zero", None), ("0", None), ("", None)])
def test_num_threads_setting(monkeypatch, setting, expected):
    monkeypatch.setenv("CNNLIB_NUM_THREADS", setting)
    default = max(1, min(len(os.sched_getaffinity(0)), 8))
    assert parallel.num_threads() == (expected or default)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_working_workers(monkeypatch):
    """The worker threads do not survive fork: the child must start its own, not hang."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    monkeypatch.setattr(conv_plans, "PART_FLOPS", 1)     # use the workers even for this small case
    monkeypatch.setattr(conv_plans, "machine_busy", lambda: False)
    window_matrix.clear_cache()
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(8, 16, 20, 20)), rng.normal(size=(8, 16, 3, 3))
    expected = conv2d(x, w, padding=1)           # the parent's workers now exist
    assert parallel._workers
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                 # child: report 1 on success, 0 otherwise
        ok = np.allclose(conv2d(x, w, padding=1), expected)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    try:
        import select
        ready, _, _ = select.select([read], [], [], 60)
        assert ready, "the forked child did not finish within 60 s"
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)


@pytest.mark.parametrize("busy", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_images_in_parts_equals_one_scatter(monkeypatch, busy, dtype):
    """Max-pool's backward scatter: each part zeros and fills its own images, as one scatter would."""
    import cnnlib
    from cnnlib import engine
    monkeypatch.setattr(engine, "machine_busy", lambda: busy)
    monkeypatch.setattr(engine, "SCATTER_PART", 7)
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "3")
    x = np.random.default_rng(5).normal(size=(5, 3, 9, 7)).astype(dtype)
    out, argmax = cnnlib.max_pool2d_with_indices(x, 2)
    dout = np.random.default_rng(6).normal(size=out.shape).astype(dtype)
    expected = np.zeros(x.size, dtype)
    expected[argmax.ravel()] = dout.ravel()
    dx = cnnlib.max_pool2d_backward(dout, x, 2, argmax=argmax)
    assert dx.dtype == dtype and dx.flags.c_contiguous
    np.testing.assert_array_equal(dx, expected.reshape(x.shape))


def test_machine_busy_compares_the_load_average_with_the_threads(monkeypatch):
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert parallel.machine_busy()
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 9.0, 9.0))
    assert not parallel.machine_busy()


def test_one_blas_thread_limits_blas_inside_and_restores_it():
    from threadpoolctl import threadpool_info
    blas_threads = lambda: [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    before = blas_threads()
    with parallel.one_blas_thread():
        assert set(blas_threads()) == {1}
        def other_caller():     # enters and leaves meanwhile: must not lift the limit
            with parallel.one_blas_thread():
                seen.append(set(blas_threads()))
        seen = []
        worker = threading.Thread(target=other_caller)
        worker.start()
        worker.join()
        assert seen == [{1}] and set(blas_threads()) == {1}
    assert blas_threads() == before and not parallel._blas_lock.locked()


def test_blas_threads_is_what_the_blas_libraries_may_use_now(monkeypatch):
    """The largest thread count of the BLAS libraries, as threadpoolctl reports it; 1 inside
    ``one_blas_thread`` and under threadpoolctl's limit; 1 without threadpoolctl."""
    from threadpoolctl import threadpool_info, threadpool_limits
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert parallel.blas_threads() == max(counts, default=1)
    with parallel.one_blas_thread():
        assert parallel.blas_threads() == 1
    with threadpool_limits(2, user_api="blas"):
        assert parallel.blas_threads() == min(2, max(counts, default=1))
    with threadpool_limits(1, user_api="blas"):
        assert parallel.blas_threads() == 1
    monkeypatch.setattr(parallel, "_blas_libs", lambda: [])     # threadpoolctl missing
    assert parallel.blas_threads() == 1


def test_run_parts_inline_runs_every_part_on_the_caller():
    threads = []
    parallel.run_parts(lambda i: threads.append((i, threading.get_ident())), 3, inline=True)
    assert threads == [(i, threading.get_ident()) for i in range(3)]


def test_settle_waits_while_another_thread_runs_and_returns_when_it_stops():
    """settle returns at once when no other thread runs, and waits while one spins on a CPU
    (as OpenBLAS's idle workers do after a product), until it stops."""
    import time
    parallel.settle(limit=2.0)   # BLAS's workers of the tests before may still spin
    assert parallel.running_threads() == 0
    started = time.perf_counter()
    parallel.settle()
    assert time.perf_counter() - started < 0.05
    stop, spinning = threading.Event(), threading.Event()

    def spin():
        spinning.set()
        while not stop.is_set():
            pass
    thread = threading.Thread(target=spin)
    thread.start()
    spinning.wait()
    threading.Timer(0.1, stop.set).start()
    started = time.perf_counter()
    parallel.settle(limit=5.0)
    waited = time.perf_counter() - started
    thread.join()
    assert stop.is_set() and 0.05 < waited < 4.0
