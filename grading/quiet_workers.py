"""Imported last by the local cluster's forkserver: its workers ignore Ctrl-C.

Ctrl-C in the terminal of `make grade` reaches every process of the terminal's group. The
coordinator stops the batch cleanly (finished submissions are kept) and closes the cluster,
which stops the workers; a worker that took the SIGINT itself printed a KeyboardInterrupt
traceback each, some 60 lines before the coordinator's one-line summary. The forkserver keeps
this setting as the one its forks start with (multiprocessing.forkserver.main reads the
handlers after the preload). Remote workers (`dask worker`) never import this module.
"""
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
