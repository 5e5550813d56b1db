"""Imported last by the local cluster's forkserver: its workers take Ctrl-C quietly.

Ctrl-C in the terminal of `make grade` reaches every process of the terminal's group. The
coordinator stops the batch cleanly (finished submissions are kept) and closes the cluster,
which stops the workers. A worker that took the SIGINT itself printed a KeyboardInterrupt
traceback each, some 60 lines before the coordinator's one-line summary; so a worker does not
stop on SIGINT. It only quiets Dask's logs from then on: when the coordinator closes the
scheduler while a worker's heartbeat is on its way, that worker logs "Failed to communicate
with scheduler during heartbeat" with two tracebacks (seen once in CI). The forkserver keeps
this handler as the one its forks start with (multiprocessing.forkserver.main reads the
handlers after the preload). Remote workers (`dask worker`) never import this module.
"""
import signal

from grading.cluster import quiet_cluster_logs


def _quiet_on_ctrl_c(signum, frame) -> None:
    quiet_cluster_logs()


signal.signal(signal.SIGINT, _quiet_on_ctrl_c)
