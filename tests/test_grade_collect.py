"""Collecting a learning platform's zip (`nbgrader zip_collect`, `grading.collect`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import grading_helpers as gh

A = "02_convolution"


def _course(tmp_path):
    root = tmp_path / "course"
    (root / "exercises").mkdir(parents=True)
    shutil.copy(gh.REPO / "nbgrader_config.py", root)
    shutil.copytree(gh.REPO / "exercises" / A, root / "exercises" / A)
    return root


def _zip_collect(root, files: dict) -> subprocess.CompletedProcess:
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", A, "--force"],
                          cwd=root, env=gh.env(), capture_output=True, text=True, timeout=300)


def test_a_canvas_resubmission_keeps_the_latest_and_names_the_one_dropped(tmp_path):
    """Tad's trial: `ben_LATE_13_346_02_convolution.ipynb` and
    `ben_LATE_13_347_02_convolution-1.ipynb` in one zip stopped nbgrader's zip_collect
    ("Duplicate submission file. No timestamps for comparison", exit 1): nothing collected for
    anybody, nobody named. The highest submission id is kept, the other named."""
    root = _course(tmp_path)
    run = _zip_collect(root, {
        "ada_12_300_02_convolution.ipynb": '{"ada": 1}',
        "ben_LATE_13_347_02_convolution-1.ipynb": '{"ben": "latest"}',
        "ben_LATE_13_346_02_convolution.ipynb": '{"ben": "first"}',
        "cy_14_290_02_convolution-2.ipynb": '{"cy": "latest"}',
        "cy_14_290_02_convolution-1.ipynb": '{"cy": "earlier"}',
    })
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    got = {s: (root / "submitted" / s / A / f"{A}.ipynb").read_text() for s in ("ada", "ben", "cy")}
    assert got == {"ada": '{"ada": 1}', "ben": '{"ben": "latest"}', "cy": '{"cy": "latest"}'}
    assert "ben_LATE_13_346_02_convolution.ipynb (kept ben_LATE_13_347_02_convolution-1.ipynb)" in log
    assert "cy_14_290_02_convolution-1.ipynb (kept cy_14_290_02_convolution-2.ipynb)" in log
    record = json.loads((root / "submitted" / ".zip_collect" / f"{A}.json").read_text())
    assert record["late"] == {"ben": "ben_LATE_13_347_02_convolution-1.ipynb"}
    assert [d["file"] for d in record["dropped"]] == [
        "ben_LATE_13_346_02_convolution.ipynb", "cy_14_290_02_convolution-1.ipynb"]
    # `make grade` flags Canvas's _LATE: no time is known, so nbgrader counts it on time
    from grading.collect import lms_late_flag
    ben = root / "submitted" / "ben" / A
    assert "late in the learning platform (ben_LATE_13_347_02_convolution-1.ipynb has _LATE)" \
        in lms_late_flag(root, "ben", A, ben)
    assert lms_late_flag(root, "ada", A, root / "submitted" / "ada" / A) == ""
    from grading.grade import Batch, Submission, load_config
    from grading.progress import Progress
    shutil.copytree(gh.REPO / "solutions" / A, root / "solutions" / A)
    subs = [Submission(s, A, root / "submitted" / s / A) for s in ("ada", "ben")]
    batch = Batch(root, load_config(root), subs, Progress(2))
    for sub in subs:
        batch.preflight(sub)
    assert not any("late in the learning platform" in f for f in subs[0].flags)
    assert any(f.startswith("late in the learning platform") for f in subs[1].flags), subs[1].flags
    (ben / "timestamp.txt").write_text("2026-03-02 10:00:00 UTC")   # a time written by hand
    assert lms_late_flag(root, "ben", A, ben) == ""
