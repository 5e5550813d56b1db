"""nbgrader preprocessors that grade outside the student's kernel (see nbgrader_config.py).

SanitizeSubmission  (first of Autograde.sanitize_preprocessors)
    Resets this submission's grades to "needs a person" before anything else, so a run that
    fails later can never leave an old grade behind; repairs the notebook with
    `grading.preflight.check_notebook` (of a pasted solution cell the last copy graded,
    renamed test cells dropped, deleted test cells restored from the gradebook) and stores the flags in
    the notebook's metadata (`metadata.grading.flags`).
SandboxedTests      (replaces nbgrader's Execute)
    Collects the student's code cells (every code cell except test cells, in order), calls
    `grading.sandbox.run_checks` for the test cells that have a Check, and writes each test
    cell's outputs from the verdict: one stdout line when it passed, one error output holding
    only the learner-facing message when it failed. Nothing the student's code prints or
    displays reaches a test cell, so nbgrader's scoring (`utils.determine_grade`: an error or
    stderr output -> 0, an execute_result -> partial credit, otherwise full points) sees only
    the verdict.
SaveVerdicts        (replaces SaveAutoGrades)
    SaveAutoGrades, plus "needs manual grade" for test cells that could not be graded
    automatically (no Check, or the sandbox gave no verdict).
"""
from __future__ import annotations

import secrets
from pathlib import Path

from nbformat.notebooknode import from_dict
from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades
from traitlets import Integer

from grading.checks.cells import cell_name
from grading.preflight import (CellSpec, cell_kind, check_notebook, checks_with_reference_import,
                               links_out_of, student_code_cells)

MANUAL = "grading_manual"   # resources key: grade ids that need a person


#: sandbox flags that only repeat a pre-flight flag "imports cnnlib (the reference), not allowed
#: for <test>": the import was refused, so the cell stopped and its function is missing
IMPORT_CONSEQUENCES = ("import of reference blocked", "missing function")


#: what the feedback says on a cell that the jail stopped (sandbox.Verdicts.stopped)
_AFTER = "what it defines after that point was missing for the tests"
STOPPED_NOTES = {
    "timeout": f"At marking, this cell used up its computing time and was stopped: {_AFTER}.",
    "idle": f"At marking, this cell waited without computing (sleep, input?) and was stopped: {_AFTER}.",
    "crashed": f"At marking, this cell crashed (the process that ran it died): {_AFTER}.",
    "memory": f"At marking, this cell ran out of memory (MemoryError) and stopped: {_AFTER}.",
    "skipped": "At marking, this cell did not run: the computing time for all cells was used up, "
               "so what it defines was missing for the tests.",
}


def _flags(nb) -> list:
    grading = nb.metadata.setdefault("grading", {})
    return grading.setdefault("flags", [])


def add_exchange_files(folder: Path) -> None:
    """The exchange's files for a submission that came without them (collected by hand).

    `nbgrader release_feedback` reads timestamp.txt and submission_secret.txt beside every
    feedback page and stops the whole release at the first folder without them; `nbgrader
    submit` writes both. Here, in the autograded copy (`nbgrader generate_feedback` carries
    them into feedback/; submitted/ stays as it came): an empty timestamp.txt, which nbgrader
    reads as "no time", as it reads a missing one, and a fresh secret that no student holds, so
    that page goes nowhere and the release goes on for the class.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "timestamp.txt").exists():
        (folder / "timestamp.txt").write_text("")
    if not (folder / "submission_secret.txt").exists():
        (folder / "submission_secret.txt").write_text(secrets.token_hex(64))


def assignment_checks(assignment: str) -> dict:
    """The Checks of one assignment, by grade id."""
    from grading.checks import CHECKS
    return {gid: check for gid, check in CHECKS.items() if check.assignment == assignment}


class SanitizeSubmission(NbGraderPreprocessor):
    """Reset old grades, repair the notebook, record pre-flight flags."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        notebook, assignment, student = info["notebook"], info["assignment"], info["student"]
        with Gradebook(info["db_url"]) as gb:
            self._reset_grades(gb, notebook, assignment, student)
            folder = Path(resources.get("metadata", {}).get("path") or ".")
            graded = self._autograded_copy(folder, student, assignment)
            if graded is not None:
                add_exchange_files(graded)
            links = links_out_of(folder)
            if links:  # nbgrader copies the files a link points to: a solution, the gradebook
                raise ValueError(f"links out of the submission folder ({', '.join(links)}): "
                                 "grade this submission by hand")
            source = gb.find_notebook(notebook, assignment)
            expected = self._expected(source)
            sources = {c.name: c for c in source.source_cells}
            report = check_notebook(nb, expected, assignment_checks(assignment), notebook)
            for grade_id in report.missing_tests:
                report.nb.cells.append(self._restored_cell(sources[grade_id], expected[grade_id]))
        nb = report.nb
        _flags(nb).extend(report.flags)
        for flag in report.flags:
            self.log.warning("pre-flight %s/%s: %s", student, assignment, flag)
        return nb, resources

    def _autograded_copy(self, folder: Path, student: str, assignment: str) -> "Path | None":
        """autograded/<student>/<assignment>, where nbgrader writes the graded copy of the
        submission `folder` (submitted/<student>/<assignment>; the folder exists already when
        the submission has other files than notebooks); None if the layout differs."""
        course = self.config.get("CourseDirectory", {})
        if (folder.name, folder.parent.name) != (assignment, student) or \
                folder.parent.parent.name != course.get("submitted_directory", "submitted"):
            return None
        graded = folder.parents[2] / course.get("autograded_directory", "autograded") / student / assignment
        return None if graded.resolve() == folder.resolve() else graded

    def _reset_grades(self, gb, notebook, assignment, student):
        try:
            submitted = gb.find_submission_notebook(notebook, assignment, student)
        except MissingEntry:
            return
        for grade in submitted.grades:
            grade.auto_score = None
            grade.needs_manual_grade = True
        gb.db.commit()

    @staticmethod
    def _expected(source) -> dict:
        solutions = {c.name for c in source.solution_cells}
        graded = {c.name: c for c in source.grade_cells}
        expected = {}
        for cell in source.source_cells:
            if cell.name in solutions:
                kind = "solution"
            elif cell.name in graded and cell.cell_type == "code":
                kind = "test"
            else:
                kind = "other"
            points = float(graded[cell.name].max_score) if cell.name in graded else 0.0
            expected[cell.name] = CellSpec(cell.name, kind, cell.cell_type, points)
        return expected

    @staticmethod
    def _restored_cell(source_cell, spec: CellSpec):
        """A deleted test cell, put back as the source has it (OverwriteCells checks it)."""
        return from_dict({
            "cell_type": "code", "execution_count": None, "outputs": [],
            "source": source_cell.source,
            "metadata": {"deletable": False, "editable": False, "nbgrader": {
                "grade": True, "grade_id": spec.grade_id, "locked": True,
                "points": spec.points, "solution": False, "task": False,
                "checksum": source_cell.checksum, "schema_version": 3}},
        })


def _passed(message: str) -> dict:
    text = f"Passed: {message}" if message else "Passed."
    return from_dict({"output_type": "stream", "name": "stdout", "text": text + "\n"})


def _failed(message: str, ename: str = "TestFailed") -> dict:
    lines = [line for line in (message or "failed").splitlines()] or ["failed"]
    return from_dict({"output_type": "error", "ename": ename, "evalue": lines[0],
                      "traceback": [f"{ename}: {lines[0]}"] + lines[1:]})


def not_attempted(message: str) -> str | None:
    """One line for a function that is still the release's stub, instead of one per check.

    A verdict ``"<target>: n of m checks failed"`` whose every listed case says the target
    raised NotImplementedError means the student has not written it yet.
    """
    lines = (message or "").splitlines()
    cases = [line for line in lines[1:] if line.startswith("- ") and not line.startswith("- ...")]
    if not cases or not all("raised NotImplementedError" in line for line in cases):
        return None
    target = lines[0].split(":", 1)[0].strip() or "this function"
    return (f"{target}: not attempted (it still raises NotImplementedError: write your code "
            f"where it says YOUR CODE HERE and delete the `raise` line)")


class SandboxedTests(NbGraderPreprocessor):
    """Decide every test cell outside the student's kernel (replaces Execute)."""

    seed = Integer(None, allow_none=True,
                   help="Seed for the hidden inputs; None draws a fresh one per notebook "
                        "(it is recorded in the autograded notebook's metadata).").tag(config=True)

    def preprocess(self, nb, resources):
        from grading.checks import CHECKS
        from grading.sandbox import run_checks

        tests = [cell for cell in nb.cells if cell_kind(cell) == "test"]
        ids = [cell.metadata.nbgrader["grade_id"] for cell in tests]
        checks = [CHECKS[gid] for gid in ids if gid in CHECKS]
        position = {id(cell): i for i, cell in enumerate(nb.cells)}
        code_cells = student_code_cells(nb)
        code = [cell.source for cell in code_cells]
        names = [cell_name(position[id(c)] + 1, c.source) for c in code_cells]
        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        workdir = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        flags = _flags(nb)
        nb.metadata["grading"]["seed"] = seed
        verdicts = {}
        if checks:
            try:
                verdicts = run_checks(code, workdir, checks, seed, cell_names=names)
            except Exception as exc:  # a grader bug must not pass for a student's failure
                self.log.error("run_checks failed: %r", exc)
                flags.append(f"the sandbox failed ({type(exc).__name__}: {exc}); "
                             f"every test cell needs a person")
        for i, how in getattr(verdicts, "stopped", {}).items():   # also when every check passed
            if how in STOPPED_NOTES and 0 <= i < len(code_cells):
                code_cells[i].outputs = [new_output("stream", name="stderr", text=STOPPED_NOTES[how] + "\n")]
        manual = resources.setdefault(MANUAL, [])
        imported = checks_with_reference_import(flags)   # pre-flight's flag says why they failed
        for cell, gid in zip(tests, ids):
            cell.execution_count = None
            if gid not in CHECKS:
                cell.outputs = [_failed("This test is graded by a person.", "NotAutograded")]
                manual.append(gid)
                flags.append(f"test cell '{gid}' has no automatic check: grade it by hand")
            elif gid not in verdicts:
                cell.outputs = [_failed("This test could not be run; a person will look at it.",
                                        "NotGraded")]
                manual.append(gid)
                flags.append(f"{gid}: no verdict from the sandbox: grade it by hand")
            else:
                verdict = verdicts[gid]
                cell.outputs = [_passed(verdict.message) if verdict.passed
                                else _failed(not_attempted(verdict.message) or verdict.message)]
                flags.extend(f"{gid}: {flag}" for flag in verdict.flags
                             if gid not in imported or not flag.startswith(IMPORT_CONSEQUENCES))
        return nb, resources


class SaveVerdicts(SaveAutoGrades):
    """SaveAutoGrades, and "needs manual grade" where no automatic verdict exists."""

    def _add_score(self, cell, resources):
        super()._add_score(cell, resources)
        if cell.metadata["nbgrader"]["grade_id"] in resources.get(MANUAL, []):
            grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"],
                                              self.notebook_id, self.assignment_id,
                                              self.student_id)
            grade.needs_manual_grade = True
            self.gradebook.db.commit()


class WrapLongLines(NbGraderPreprocessor):
    """Feedback pages wrap every line: a verdict's useful half is never off-screen.

    Runs after nbconvert's CSSHTMLHeaderPreprocessor; nbgrader's feedback template inlines
    every entry of ``resources["inlining"]["css"]``.
    """

    CSS = ("pre, .output pre, .output_area pre, .output_text pre, .output_error pre "
           "{ white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal; }")

    def preprocess(self, nb, resources):
        resources.setdefault("inlining", {}).setdefault("css", []).append(self.CSS)
        return nb, resources
