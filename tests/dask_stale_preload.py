"""Dask worker preload for the cluster tests: a worker that passes the grader's check when
`make grade` connects, then runs "other grader code" in every grading task, as a grading
machine whose checkout differs does when it joins in the middle of a batch.

Used only by tests/test_grading_dask.py (`dask worker --preload <this file>`).
"""
import sys

import grading.task as task

# (Dask imports a preload file more than once: keep the first, real, function)
_real = task.__dict__.setdefault("real_code_fingerprint", task.code_fingerprint)


def stale_in_grading_tasks():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "grade_task":
            return "a checkout at another commit"
        frame = frame.f_back
    return _real()


task.code_fingerprint = stale_in_grading_tasks
