"""Grading workers take Ctrl-C quietly: imported last by the local cluster's forkserver, and
called by the preload of every worker under a nanny (`grading.task.dask_setup`, remote workers
too).

Ctrl-C in a terminal reaches every process of its group: that of `make grade` (the local
cluster's workers) or that of `python -m grading.cluster worker` (a grading machine's worker
processes and the `dask worker` process whose nannies run them). In both cases another process
closes the workers: the coordinator closes its local cluster (finished submissions are kept),
and Dask's own signal handler closes the nannies, which ask their workers to close. A worker
that took the SIGINT itself printed a KeyboardInterrupt traceback (some 60 lines before the
coordinator's one-line summary), or, on a grading machine, began to close on its own while its
nanny asked it to: a CommClosedError traceback, and 8 s later "Worker process still alive after
8.0 seconds, killing". So a worker does not stop on SIGINT. It only quiets Dask's logs from
then on: when the coordinator closes the scheduler while a worker's heartbeat is on its way,
that worker logs "Failed to communicate with scheduler during heartbeat" with two tracebacks
(seen once in CI). The forkserver keeps this handler as the one its forks start with
(multiprocessing.forkserver.main reads the handlers after the preload).
"""
import signal
import threading

from grading.cluster import quiet_cluster_logs


def _quiet_on_ctrl_c(signum, frame) -> None:
    quiet_cluster_logs()


def take_ctrl_c_quietly() -> None:
    """From now on SIGINT only quiets Dask's logs in this process (main thread only: Python
    sets signal handlers there; elsewhere nothing changes)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _quiet_on_ctrl_c)


take_ctrl_c_quietly()
