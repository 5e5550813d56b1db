"""A grading task's data (grading/task.py): folders as plain data, the code fingerprint."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import grading_helpers as gh
from grading.task import code_fingerprint, pack_folder, unpack_folder


def test_pack_and_unpack_keep_files_folders_and_links(tmp_path):
    src = tmp_path / "src"
    (src / "data" / "empty").mkdir(parents=True)
    (src / "a.ipynb").write_bytes(b'{"cells": []}')
    (src / "data" / "x.npy").write_bytes(bytes(range(256)))
    os.symlink("/dev/zero", src / "zero")           # a student's link: packed, never followed
    os.symlink("data", src / "data-link")
    packed = pack_folder(src)
    assert packed["links"] == {"data-link": "data", "zero": "/dev/zero"}
    assert set(packed["files"]) == {"a.ipynb", "data/x.npy"}
    assert pickle.loads(pickle.dumps(packed)) == packed   # plain data only
    dest = tmp_path / "dest"
    unpack_folder(packed, dest)
    assert (dest / "data" / "x.npy").read_bytes() == bytes(range(256))
    assert (dest / "data" / "empty").is_dir()
    assert os.readlink(dest / "data-link") == "data"
    assert not os.path.lexists(dest / "zero")   # out of the folder: not made (nbgrader follows links)


def test_unpack_makes_no_link_to_nothing(tmp_path):
    """A link whose target is missing (nbgrader's copy follows links and would fail on it) is
    not made; one to a link that is not made goes too."""
    packed = {"files": {"a.txt": b"a"}, "dirs": [],
              "links": {"ok": "a.txt", "gone": "missing.txt", "via": "gone"}}
    unpack_folder(packed, tmp_path / "dest")
    assert (tmp_path / "dest" / "ok").read_bytes() == b"a"
    assert not os.path.lexists(tmp_path / "dest" / "gone")
    assert not os.path.lexists(tmp_path / "dest" / "via")


def test_pack_refuses_a_folder_over_the_limit(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"\0" * 3000)
    with pytest.raises(ValueError, match="pack_folder: .* more than"):
        pack_folder(tmp_path, limit=2048)


@pytest.mark.parametrize("rel", ["../escape", "/etc/passwd", "a/../../b"])
def test_unpack_refuses_entries_outside_the_folder(tmp_path, rel):
    with pytest.raises(ValueError, match="unpack_folder: entry"):
        unpack_folder({"files": {rel: b"x"}, "links": {}, "dirs": []}, tmp_path / "dest")
    assert not (tmp_path / "escape").exists()


def test_pack_folder_stops_at_its_limit_without_reading_a_huge_file(tmp_path):
    """A 64 GiB (sparse) file: a ValueError that names the limit, not a MemoryError."""
    (tmp_path / "data.bin").touch()
    os.truncate(tmp_path / "data.bin", 64 << 30)
    (tmp_path / "a.ipynb").write_bytes(b"{}")
    with pytest.raises(ValueError, match="more than 1 MiB of files"):
        pack_folder(tmp_path, limit=1 << 20)


def test_code_fingerprint_is_a_stable_sha256():
    assert code_fingerprint() == code_fingerprint()
    assert len(code_fingerprint()) == 64 and int(code_fingerprint(), 16) >= 0


def _page(exporter_class, notebook) -> str:
    page, _ = exporter_class().from_notebook_node(notebook)
    return page


def test_feedback_exporter_compiles_templates_once_and_writes_the_same_page(monkeypatch):
    import jinja2
    import nbformat
    from nbconvert.exporters import HTMLExporter

    from grading.task import feedback_exporter
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Pooling\nThe *maximum* of each window."),
        nbformat.v4.new_code_cell("def max_pool2d(x):\n    return x[:, :, ::2, ::2]",
                                  outputs=[nbformat.v4.new_output("stream", text="ok\n")])])
    compiles = []
    real_compile = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *a, **k: compiles.append(1) or real_compile(self, *a, **k))
    first = _page(feedback_exporter(), nb)
    once = len(compiles)
    second = _page(feedback_exporter(), nb)
    assert once > 0 and len(compiles) == once        # the second page compiled nothing
    plain = _page(HTMLExporter, nb)
    assert len(compiles) > once                      # nbconvert's own exporter compiles again
    assert first == second == plain and "max_pool2d" in plain


def test_feedback_config_is_a_copy(tmp_path):
    from grading.grade import load_config
    from grading.task import feedback_config, feedback_exporter
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    config = load_config(tmp_path)
    copy = feedback_config(config)
    assert copy.GenerateFeedback.exporter_class is feedback_exporter()
    assert "exporter_class" not in config.GenerateFeedback


def test_job_overrides_leave_the_course_config_alone(tmp_path):
    # a server gradebook's export once read the temporary job gradebook left in the config
    from grading.grade import coursedir, load_config
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'x'\n"
        "c.CourseDirectory.db_url = 'postgresql://grader@db/course'\n")
    config = load_config(tmp_path)
    cd, used = coursedir(config, root=str(tmp_path / "job"), db_url="sqlite:///job.db")
    assert (cd.root, cd.db_url) == (str(tmp_path / "job"), "sqlite:///job.db")
    assert used.CourseDirectory.db_url == "sqlite:///job.db"
    assert config.CourseDirectory.db_url == "postgresql://grader@db/course"
    assert config.CourseDirectory.root == str(tmp_path)
    assert config.CourseDirectory.course_id == used.CourseDirectory.course_id == "x"


def test_job_folders_of_killed_workers_are_removed_at_worker_start(tmp_path):
    import subprocess
    import sys
    from grading.task import job_prefix, remove_orphan_jobs
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = tmp_path / (job_prefix(int(gone)) + "abc")
    mine = tmp_path / (job_prefix() + "def")
    elsewhere = tmp_path / f"grading-job-another-host-{gone}-ghi"
    longer_name = tmp_path / (job_prefix(int(gone)) + f"{os.getpid()}-jkl")   # host "<this>-<gone>"
    for folder in (orphan, mine, elsewhere, longer_name):
        (folder / "course").mkdir(parents=True)
        (folder / "course" / "notebook.ipynb").write_text("{}")
    (orphan / "course").chmod(0o500)   # read-only parts go too
    assert remove_orphan_jobs(str(tmp_path)) == 1
    assert not orphan.exists() and mine.exists() and elsewhere.exists() and longer_name.exists()


@pytest.mark.slow
@pytest.mark.sandbox
@gh.needs_sandbox()
def test_release_feedback_goes_on_past_a_submission_collected_by_hand(tmp_path):
    """nbgrader release_feedback reads a submission_secret.txt beside every feedback page and
    stopped the whole release (FileNotFoundError) at the first student who handed in outside
    the exchange. Such a submission gets an empty timestamp.txt and a secret of its own in
    autograded/ and feedback/ (not in submitted/), and its scores stay those of the same
    notebook handed in through the exchange; that one keeps the secret its student holds."""
    from nbgrader.utils import notebook_hash
    root = gh.make_course(tmp_path, ["02_convolution"])
    nb = gh.reference_submission(root, "02_convolution")
    held = "5" * 128
    gh.submit(root, "ada", "02_convolution", nb)                        # e-mailed, by hand
    gh.submit(root, "zoe", "02_convolution", nb, files={                # through the exchange
        "submission_secret.txt": held, "timestamp.txt": "2026-12-04 10:00:00 UTC"})
    run = gh.grade(root)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert gh.flags_of(run.stdout, "ada", "02_convolution") == [], run.stdout
    for step in ("autograded", "feedback"):
        assert (root / step / "zoe" / "02_convolution" / "submission_secret.txt").read_text() == held
        assert len((root / step / "ada" / "02_convolution" / "submission_secret.txt").read_text()) == 128
    assert (root / "feedback" / "ada" / "02_convolution" / "timestamp.txt").read_text() == ""
    assert {p.name for p in (root / "submitted" / "ada" / "02_convolution").iterdir()} == {"02_convolution.ipynb"}
    assert gh.gradebook_scores(root)[("ada", "02_convolution")] == gh.gradebook_scores(root)[("zoe", "02_convolution")]
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    nbgrader = Path(sys.executable).parent / "nbgrader"
    run = subprocess.run([str(nbgrader), "release_feedback", "02_convolution", f"--Exchange.root={exchange}"],
                         cwd=root, env=gh.env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    released = exchange / "cnn-from-scratch" / "feedback"
    page = released / f"{notebook_hash(secret=held, notebook_id='02_convolution')}.html"
    assert page.read_bytes() == (root / "feedback" / "zoe" / "02_convolution" / "02_convolution.html").read_bytes()
    assert len(list(released.glob("*.html"))) == 2


@pytest.mark.slow
@pytest.mark.sandbox
@gh.needs_sandbox()
def test_plain_nbgrader_autograde_also_gives_feedback_a_secret(tmp_path):
    """The Instructor guide's plain `nbgrader autograde <assignment> --student <id> --force`
    and `nbgrader generate_feedback` on a submission collected by hand left autograded/ and
    feedback/ without submission_secret.txt (make grade's task used to add it, nbgrader's own
    path did not), and the next release_feedback stopped with FileNotFoundError part-way through
    the class. The course's first preprocessor now adds the files to the autograded copy."""
    root = gh.make_course(tmp_path, ["02_convolution"])
    nb = gh.reference_submission(root, "02_convolution")
    for student in ("ada", "zoe"):
        gh.submit(root, student, "02_convolution", nb)                  # e-mailed, by hand
    assert gh.grade(root).returncode == 0
    nbgrader = Path(sys.executable).parent / "nbgrader"
    for step in (["autograde", "02_convolution", "--student", "ada", "--force"],
                 ["generate_feedback", "02_convolution", "--student", "ada", "--force"]):
        run = subprocess.run([str(nbgrader), *step], cwd=root, env=gh.env(), capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for step in ("autograded", "feedback"):
        assert len((root / step / "ada" / "02_convolution" / "submission_secret.txt").read_text()) == 128
    assert {p.name for p in (root / "submitted" / "ada" / "02_convolution").iterdir()} == {"02_convolution.ipynb"}
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    run = subprocess.run([str(nbgrader), "release_feedback", "02_convolution", f"--Exchange.root={exchange}"],
                         cwd=root, env=gh.env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((exchange / "cnn-from-scratch" / "feedback").glob("*.html"))) == 2


def test_workers_do_not_log_the_coordinators_watch_calls(caplog):
    """Every 5 s the coordinator asks each worker what it runs; Dask's worker logged each call
    ("Run out-of-band function 'executing'", 50 lines in 4 minutes per worker process). The
    worker preload drops those lines and no other."""
    import logging

    from grading.task import quiet_watch_calls
    quiet_watch_calls()
    quiet_watch_calls()                                  # (Dask imports a preload more than once)
    log = logging.getLogger("distributed.worker")
    with caplog.at_level(logging.INFO, logger="distributed.worker"):
        log.info("Run out-of-band function %r", "executing")
        log.info("Run out-of-band function %r", "worker_facts")
        log.info("Starting Worker plugin shuffle")
    assert [r.getMessage() for r in caplog.records] == [
        "Run out-of-band function 'worker_facts'", "Starting Worker plugin shuffle"]
    assert sum(type(f).__name__ == "_DropWatchCalls" for f in log.filters) == 1
