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
