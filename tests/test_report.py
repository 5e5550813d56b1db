"""grading/report.py: the class report's "most common failing case" of a verdict."""
from __future__ import annotations

from grading.report import failing_case


def test_failing_case_names_the_first_listed_case():
    verdict = ("TestFailed: conv2d_single: 5 of 6 checks failed\n"
               "- the worked example (4x4 input, 3x3 kernel): conv2d_single output is wrong\n"
               "- non-square 6x9 input, 3x3 kernel: conv2d_single output is wrong")
    assert failing_case(verdict) == "the worked example (4x4 input, 3x3 kernel)"


def test_failing_case_of_a_one_line_verdict_is_its_gist_not_a_cut_word():
    blank = ("TestFailed: avg_pool2d: not attempted (it still raises NotImplementedError: write "
             "your code where it says YOUR CODE HERE and delete the `raise` line)")
    assert failing_case(blank) == "not attempted"
    missing = ("TestFailed: `max_pool2d` is not defined in the notebook: did you rename the "
               "function, delete its cell, or does its cell raise an error?\n"
               "Cells that raised an error:\ncell 2: ImportError: import of cnnlib is not allowed")
    assert failing_case(missing) == "`max_pool2d` is not defined in the notebook"
    long = "TestFailed: f: " + "word " * 40
    case = failing_case(long)
    assert len(case) <= 80 and case.endswith("…") and case[:-1].endswith("word")
    assert failing_case("") == "failed"


def test_a_submission_under_an_id_not_on_the_roster_is_flagged(tmp_path):
    """Ivy's trial: a folder submitted/ada2/ beside a roster without ada2 gave rows with empty
    names in grades.csv and grades-lms.csv, and no flag. The rows stay; the summary, grades.csv
    (needs_person) and the class report say "not on roster.csv"."""
    import csv
    import warnings

    import grading_helpers as gh
    from grading import export, report
    from grading.grade import Submission, summary
    warnings.filterwarnings("ignore", message=".*not in session.*")
    url = gh.small_gradebook(tmp_path, {"t1": 5}, {s: {"t1": 5.0} for s in ("ada", "ada2")})
    (tmp_path / "roster.csv").write_text("id,first_name,last_name,email\nada,Ada,Byron,a@x\n")
    long_csv, wide_csv, rows = export.export(tmp_path, url)
    with long_csv.open() as fh:
        by_id = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert by_id["ada"]["needs_person"] == "" and by_id["ada2"]["status"] == "graded"
    assert by_id["ada2"]["needs_person"] == export.NOT_ON_ROSTER
    assert "ada2" in wide_csv.read_text()
    page = report.to_html(report.build(tmp_path, rows, ["ada"]))
    assert "not on roster.csv" in page
    subs = [Submission(s, "a", tmp_path) for s in ("ada", "ada2")]
    for sub in subs:
        sub.status = "graded"
    text = summary(url, ["ada", "ada2"], ["a"], subs, unlisted=["ada2"])
    assert text.splitlines()[-2:] == ["FLAGS for a person (1 submission(s)):",
                                      f"  ada2/a: {export.NOT_ON_ROSTER}"]
    (tmp_path / "roster.csv").unlink()   # no roster: nobody is "not on" it
    assert all(r.needs_person == "" for r in export.export(tmp_path, url)[2])


def test_the_terminal_names_at_most_NAMES_students_who_did_not_hand_in():
    """A MOOC's terminal summary must not list thousands of ids; the page lists every one."""
    from grading.report import NAMES, ClassReport, text_summary
    import dataclasses
    fields = {f.name: None for f in dataclasses.fields(ClassReport)}
    ids = [f"s{i}" for i in range(NAMES + 3)]
    report = ClassReport(**dict(fields, missing={"a": ids, "b": ids[:2]}, functions=[]))
    lines = text_summary(report).splitlines()
    assert lines[0] == f"did not hand in a: {', '.join(ids[:NAMES])} and 3 more (class_report.html)"
    assert lines[1] == "did not hand in b: s0, s1"
