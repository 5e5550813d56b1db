"""nbgrader configuration for the course; run nbgrader from the repository root.

solutions/ is the source directory (instructor notebooks with solutions and hidden tests),
exercises/ the release directory (what students download; generated, never edited by hand).

Autograding never runs the tests in the student's kernel: `grading.preprocessors` replaces
nbgrader's Execute step. The student's code runs in a confined child process
(`grading.sandbox`), the trusted process draws the inputs and compares the results
(`grading.checks`), and each test cell's output is written from that verdict, so nbgrader's
own scoring (an error output -> 0, otherwise full points) records it. This holds for
`nbgrader autograde <assignment>` and the formgrader as much as for `make grade`.
"""
import os
import sys

c = get_config()  # noqa: F821  (injected by nbgrader)

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput, DeduplicateIds,
    GetGrades, LimitOutput, OverwriteCells, OverwriteKernelspec)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402

from grading.preprocessors import (  # noqa: E402
    SandboxedTests, SanitizeSubmission, SaveVerdicts, WrapLongLines)

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "cnn-from-scratch"

# Every nbgrader command that creates the gradebook (`nbgrader db assignment add`, `nbgrader
# collect`, ...) runs `alembic` from PATH; typed as `.venv/bin/nbgrader ...` without an activated
# venv, PATH lacks it and nbgrader leaves a half-made gradebook. The venv's bin/ goes on PATH.
# A fresh clone: `nbgrader autograde <assignment>` and the formgrader find every assignment
# of solutions/ in the gradebook (added on first use; `make grade` does the same itself).
try:
    from grading.grade import alembic_on_path, sync_gradebook_on_first_use  # noqa: E402
except ImportError:   # an older grading/ (the bench times the grader of an earlier commit)
    pass
else:
    alembic_on_path()
    sync_gradebook_on_first_use(ROOT)

# Sanitize: SanitizeSubmission goes first. It resets this submission's old grades (so a run
# that fails cannot leave a stale grade), keeps the first of duplicated grade ids, restores
# deleted test cells, and records pre-flight flags in the notebook's metadata.
c.Autograde.sanitize_preprocessors = [
    SanitizeSubmission,
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
# Autograde: SandboxedTests replaces Execute (no student code runs in this process or in a
# kernel of nbgrader's); SaveVerdicts is SaveAutoGrades plus "needs a person" for test cells
# that could not be graded automatically.
c.Autograde.autograde_preprocessors = [
    SandboxedTests,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveVerdicts,
    AssignLatePenalties,
    CheckCellMetadata,
]
# Feedback shows the visible tests and the verdicts, never the hidden block; every line wraps.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, WrapLongLines,
                                    ClearHiddenTests]

# `nbgrader zip_collect <assignment>`: the zip a learning platform gives for "download all
# submissions", saved in downloaded/<assignment>/archive/, is unpacked into
# downloaded/<assignment>/extracted/ and sorted into submitted/<student>/<assignment>/.
# The file names are Canvas's: <login>[_LATE]_<user id>_<submission id>_<file>[-<n>].ipynb
# (the login becomes the student id; "-1", "-2" are Canvas's marks for a re-submission).
# For another platform, change this pattern: it must name student_id and file_id; with
# submission_id (and resubmission), a student's latest file per notebook is kept and the
# earlier ones are skipped, named (`grading.collect.LatestSubmission`; nbgrader's own
# collector stops the whole class at the first such pair); with late, `make grade` flags
# the file as late in the platform.
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?:.*/)?(?P<student_id>[A-Za-z0-9.\-]+?)(?P<late>_LATE)?_\d+_(?P<submission_id>\d+)_"
    r"(?P<file_id>.+?)(?:-(?P<resubmission>\d+))?\.ipynb$")
try:
    from grading.collect import LatestSubmission  # noqa: E402
except ImportError:   # an older grading/ (the bench)
    pass
else:
    c.ZipCollectApp.collector_plugin = LatestSubmission
