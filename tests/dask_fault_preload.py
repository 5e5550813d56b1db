"""Dask worker preload for the cluster tests: a worker process dies when it starts grading
the student "victim", as if that submission's grading crashed the worker every time.

Used only by tests/test_grading_dask.py (`dask worker --preload <this file>`).
"""
import os
import signal

from distributed.diagnostics.plugin import WorkerPlugin

VICTIM = "grade-victim-"   # task keys are grade-<student>-<assignment>-<id>


class KillOnVictim(WorkerPlugin):
    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith(VICTIM):
            os.kill(os.getpid(), signal.SIGKILL)


async def dask_setup(worker):
    await worker.plugin_add(KillOnVictim(), name="kill-on-victim")
