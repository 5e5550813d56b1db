"""Dask worker preload for the cluster tests: a worker that passes the grader's check when
`make grade` connects, then runs "other grader code" in every grading task, as a grading
machine whose checkout differs does when it joins in the middle of a batch.

Used only by tests/test_grading_dask.py (`dask worker --preload <this file>`).
"""
import os
import sys
import time
from pathlib import Path

import grading.task as task

# (Dask imports a preload file more than once: keep the first, real, function)
_real = task.__dict__.setdefault("real_code_fingerprint", task.code_fingerprint)


def stale_in_grading_tasks():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "grade_task":
            hold_until_told()
            return "a checkout at another commit"
        frame = frame.f_back
    return _real()


def hold_until_told(limit: float = 300.0) -> None:
    """With $CNN_TEST_STALE_DIR set: write `got` there, then wait (up to `limit` s) for the
    test to write `go` (it starts a good worker meanwhile, so this one surely had a task)."""
    flags = os.environ.get("CNN_TEST_STALE_DIR")
    if not flags:
        return
    (Path(flags) / "got").touch()
    deadline = time.monotonic() + limit
    while not (Path(flags) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


task.code_fingerprint = stale_in_grading_tasks
