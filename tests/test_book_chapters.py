"""The chapters' frame, read from their sources (fast; no build): every chapter opens with what
the reader will be able to do and ends with a checkpoint box tied to its graded exercise; the
checkpoint reader (book/_ext/checkpoint.py) finds every released exercise's functions and
visible tests.
"""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

# chapter -> its graded exercise (01b and 01c may not be released yet: the box then says so)
CHAPTER_EXERCISE = {
    "01_mlp": "01_mlp",
    "02_what_is_a_cnn": "01b_pipeline_shapes",
    "03_why_it_works": "01c_weight_sharing",
    "04_convolution": "02_convolution",
    "05_hyperparameters": "03_hyperparameters",
    "05b_matrix_product": "03b_im2col",
    "06_hierarchical_features": "04_features",
    "07_pooling": "05_pooling",
    "07b_one_by_one": "05a_one_by_one",
    "07c_how_a_network_learns": "05b_learning",
    "08_putting_it_together": "06_backprop",
}
OBJECTIVES = "```{admonition} What you will be able to do"


def _checkpoint_module():
    spec = importlib.util.spec_from_file_location("checkpoint", BOOK / "_ext" / "checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("chapter", sorted(CHAPTER_EXERCISE))
def test_chapter_opens_with_objectives_and_ends_with_its_checkpoint(chapter):
    text = (BOOK / f"{chapter}.md").read_text()
    first_section = text.find("\n## ")
    assert OBJECTIVES in text[:first_section], (
        f"{chapter}.md: no '{OBJECTIVES}' box before its first section")
    boxes = re.findall(r"^```\{checkpoint\} (\S+)", text, flags=re.M)
    assert boxes == [CHAPTER_EXERCISE[chapter]], (
        f"{chapter}.md: checkpoint boxes {boxes}, expected one for {CHAPTER_EXERCISE[chapter]}")
    last_section = text.rfind("\n## ")
    assert text.rfind("```{checkpoint}") > last_section, f"{chapter}.md: the checkpoint is not at the end"


def test_every_chapter_of_the_course_has_a_graded_exercise():
    toc = (ROOT / "_toc.yml").read_text()
    course = toc.split("caption: The course")[1].split("caption:")[0]
    chapters = re.findall(r"file: book/(\w+)", course)
    assert chapters and sorted(chapters) == sorted(CHAPTER_EXERCISE)
    for exercise in CHAPTER_EXERCISE.values():
        assert (ROOT / "solutions" / exercise / f"{exercise}.ipynb").is_file(), exercise


@pytest.mark.parametrize("notebook", sorted((ROOT / "exercises").glob("*/*.ipynb")),
                         ids=lambda p: p.stem)
def test_checkpoint_reads_every_graded_test(notebook):
    import json

    cp = _checkpoint_module()
    info = cp.exercise_summary(notebook)
    cells = json.loads(notebook.read_text())["cells"]
    graded = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
              if c["metadata"].get("nbgrader", {}).get("grade")
              and c["metadata"]["nbgrader"].get("points")]
    assert [f[2] for f in info["functions"]] == graded
    assert info["title"].startswith("Exercise")
    for sig, points, test_id, doc, src in info["functions"]:
        assert sig and points > 0 and doc, (notebook.stem, test_id)
        assert doc.split(":")[0] == sig.split("(")[0], (test_id, doc, sig)
    text = "\n".join(cp.checkpoint_markdown(notebook.stem, notebook))
    assert f"</exercises/{notebook.stem}/{notebook.name}>" in text
    assert all(f"`{f[2]}`" in text for f in info["functions"])


def test_checkpoint_of_an_unreleased_exercise_points_to_the_exercises_page(tmp_path):
    cp = _checkpoint_module()
    text = "\n".join(cp.checkpoint_markdown("99_future", tmp_path / "missing.ipynb"))
    assert "not released yet" in text and "{doc}`/book/exercises`" in text
    assert "{download}" not in text
