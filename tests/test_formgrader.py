"""The formgrader walkthrough of the Instructor guide, in a real browser (issue 15).

A temporary course with two graded submissions of 05_pooling (a correct one, a blank one) is
served by a Jupyter server with nbgrader's formgrader extension, as `jupyter lab` from the
course root serves it. Headless Chromium then does what the guide tells a grader to do:
open the formgrader, find the assignment and its submissions, open a submission and type a
score over an automatic one (an override, or a hand grade); the gradebook must hold it.
Feedback is generated with the command the guide shows, and keeps the override.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grading_helpers as gh

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.sandbox]
A = "05_pooling"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = gh.make_course(tmp_path_factory.mktemp("formgrader"), [A])
    gh.submit(root, "ada", A, gh.reference_submission(root, A))
    gh.submit(root, "ben", A, gh.release_notebook(root, A))
    run = gh.grade(root, "--workers", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def server(course):
    port, token = gh.free_port(), secrets.token_hex(16)
    cmd = [str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser",
           f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={course}"]
    if os.geteuid() == 0:            # CI runs as root; an instructor does not
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    with gh.serving(cmd, course, gh.env(), f"{base}/api/status?token={token}",
                    course / "server.log", timeout=120):
        yield base, token


@pytest.fixture(scope="module")
def page(server):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("the formgrader test needs Debian's chromium (make chromium installs it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield browser.new_page()
        browser.close()


def grade_of(root: Path, student: str, grade_id: str):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        g = gb.find_grade(grade_id, A, A, student)
        return g.auto_score, g.manual_score, g.max_score


def test_assignment_and_submissions_listed(server, page):
    base, token = server
    page.goto(f"{base}/formgrader?token={token}")
    page.wait_for_selector(f"text={A}", timeout=60_000)
    page.goto(f"{base}/formgrader/gradebook/{A}/{A}?token={token}")
    links = page.locator("a[href*='/formgrader/submissions/']")
    links.first.wait_for(state="attached", timeout=60_000)
    names = {links.nth(i).text_content().strip() for i in range(links.count())}
    assert {"ada", "ben"} <= names, names        # (names are hidden until "show names")


def test_override_a_score_by_hand(course, server, page):
    base, token = server
    gid = next(iter(gh.test_points(course, A)))
    auto, manual, top = grade_of(course, "ben", gid)
    assert auto == 0.0 and manual is None
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission_id = gb.find_submission_notebook(A, A, "ben").id
    page.goto(f"{base}/formgrader/submissions/{submission_id}/?token={token}")
    box = page.locator(f"input.score#{gid}")
    box.wait_for(timeout=60_000)
    # the box is in the page's HTML at once, but it saves only once the formgrader has fetched
    # the grades and bound its handlers (formgrade.js: after window load, then an AJAX call);
    # typing before that is lost, as it would be for a person on a slow server
    page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded",
                           timeout=60_000)
    box.fill(f"{top / 2:g}")
    box.press("Tab")                      # the formgrader saves on change
    deadline = time.monotonic() + 30
    while grade_of(course, "ben", gid)[1] is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert grade_of(course, "ben", gid)[1] == top / 2


def test_feedback_keeps_the_override(course, server, page):
    run = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "generate_feedback", A,
                          "--force"], cwd=course, env=gh.env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (course / "feedback" / "ben" / A / f"{A}.html").read_text()
    assert "white-space: pre-wrap" in html
