"""The chapters' frame, read from their sources (fast; no build): every chapter opens with what
the reader will be able to do and ends with "Check yourself" questions and a checkpoint box
tied to its graded exercise; the checkpoint reader (book/_ext/checkpoint.py) finds every
released exercise's functions and visible tests.
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


CHECK_YOURSELF = "## Check yourself"
ANSWERS = "```{admonition} Answers\n:class: dropdown\n"
INVITATION = "Answer these without running code, then open the answers:"


@pytest.mark.parametrize("chapter", sorted(CHAPTER_EXERCISE))
def test_chapter_ends_with_check_yourself_questions_and_their_answers(chapter):
    """A reader trial: beginners want a few questions before the graded notebook. Every
    chapter's last section is "Check yourself": numbered questions, then an "Answers" dropdown
    with one answer per question, in the same order."""
    text = (BOOK / f"{chapter}.md").read_text()
    prose = re.sub(r"^```\{code-cell\}.*?^```$", "", text, flags=re.M | re.S)   # a `## comment` in code
    sections = re.findall(r"^## .*$", prose, flags=re.M)
    assert sections and sections[-1] == CHECK_YOURSELF, (
        f"{chapter}.md: the last section is {sections[-1:]}, expected {CHECK_YOURSELF!r}")
    section = text[text.rfind("\n" + CHECK_YOURSELF):]
    assert section.startswith(f"\n{CHECK_YOURSELF}\n\n{INVITATION}\n\n1. "), (
        f"{chapter}.md: 'Check yourself' should open with {INVITATION!r}, then question 1")
    questions, found, rest = section.partition(ANSWERS)
    assert found, f"{chapter}.md: 'Check yourself' has no '{{admonition}} Answers' dropdown"
    answers = rest.split("\n```", 1)[0]
    asked = re.findall(r"^(\d+)\. \S", questions, flags=re.M)
    answered = re.findall(r"^(\d+)\. \S", answers, flags=re.M)
    assert len(asked) >= 2 and asked == [str(k) for k in range(1, len(asked) + 1)], (
        f"{chapter}.md: questions numbered {asked}; expected at least 2, numbered 1, 2, ...")
    assert answered == asked, f"{chapter}.md: questions {asked}, answers {answered}"


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
    written = text.split("You write ", 1)[1].split(".\n", 1)[0]     # each function named once
    assert all(written.count(f"`{sig}`") == 1 for sig, *_ in info["functions"]), written


def test_checkpoint_of_an_unreleased_exercise_points_to_the_exercises_page(tmp_path):
    cp = _checkpoint_module()
    text = "\n".join(cp.checkpoint_markdown("99_future", tmp_path / "missing.ipynb"))
    assert "not released yet" in text and "{doc}`/book/exercises`" in text
    assert "{download}" not in text


def _course_chapters():
    """The course's chapters in _toc.yml order: the sidebar numbers them 1, 2, ..."""
    toc = (ROOT / "_toc.yml").read_text()
    return re.findall(r"file: book/(\w+)", toc.split("caption: The course")[1].split("caption:")[0])


def _prose(text):
    """A chapter's MyST source without its code cells and code blocks; the text of directives
    (admonitions, notes) stays."""
    kept, fences = [], []            # fences: (backticks, is_code) of the open blocks
    for line in text.splitlines():
        fence = re.match(r"(`{3,})(.*)", line)
        if fence and fences and not fence[2].strip() and fence[1] == fences[-1][0]:
            fences.pop()
        elif fence:
            info = fence[2].strip()
            fences.append((fence[1], info.startswith("{code-cell}") or not info.startswith("{")))
        elif not any(is_code for _, is_code in fences):
            kept.append(line)
    return "\n".join(kept)


@pytest.mark.parametrize("page", sorted(p.stem for p in BOOK.glob("*.md")))
def test_chapter_numbers_in_the_prose_are_links_that_match_the_toc(page):
    """'chapter 7' is the sidebar's number: it drifts when a chapter is inserted (05b, 07b
    and 07c were), so the prose writes {doc}`chapter 7 <06_hierarchical_features>` and the
    number must be the target's place in _toc.yml. The word is inside the link: a link named
    "7" says little to a screen reader's list of links (an accessibility review found 22)."""
    number = {name: k for k, name in enumerate(_course_chapters(), start=1)}
    prose = _prose((BOOK / f"{page}.md").read_text())
    bare = re.findall(r"(?<!\{doc\}`)\b[Cc]hapters? \d+\b|\b[Cc]hapters?\s+\{doc\}`[^`]*`", prose)
    assert not bare, f"{page}.md: write a chapter number as {{doc}}`chapter N <file>`, not {bare}"
    only_number = re.findall(r"\{doc\}`\d+ <\w+>`", prose)
    assert not only_number, (
        f"{page}.md: a link named only by its number: {only_number}; write {{doc}}`chapter N <file>`")
    for n, target in re.findall(r"\{doc\}`[Cc]hapter (\d+) <(\w+)>`", prose):
        assert number.get(target) == int(n), (
            f"{page}.md: {{doc}}`{n} <{target}>`, but {target} is chapter {number.get(target)}")


POST = '"02. Convolutional Neural Network"'


@pytest.mark.parametrize("page", sorted(p.stem for p in BOOK.glob("*.md")))
def test_a_chapter_that_quotes_or_corrects_the_blog_post_names_it(page):
    """The reader must be able to find the post the text quotes or corrects."""
    prose = " ".join(_prose((BOOK / f"{page}.md").read_text()).split())
    first = re.search(r"\b(blog|source) post\b|\bthe post's\b", prose)
    if first:
        named = re.search(re.escape(POST[:-1]) + r'"?,? \(?kang, February 2026', prose)
        assert named and named.start() <= first.end() + 200, (
            f"{page}.md mentions the post ({first.group(0)!r}) without naming it near its first "
            f"mention: {POST} (kang, February 2026)")


@pytest.mark.parametrize("page", sorted(p.stem for p in BOOK.glob("*.md")))
def test_the_kernel_column_index_is_l_never_n(page):
    """The notation page: m and l walk over the kernel's rows and columns; n is the image of
    the batch. A formula or a loop with a kernel index n reads as the batch index."""
    text = (BOOK / f"{page}.md").read_text()
    slips = re.findall(r"for n in range\(F\w*\)|\(m, n\)|\[[^\]]*\bm, n\]|"
                       r"\\sum_\{n=0\}\^\{F-1\}|j \+ D n|S j \+ n", text)
    assert not slips, f"{page}.md: the kernel's column index is l, not n: {slips}"


@pytest.mark.parametrize("page", sorted(p.stem for p in BOOK.glob("*.md")))
def test_an_array_is_indexed_with_square_brackets(page):
    """The notation page: y[i, j] and w[m, l], as in NumPy; y(i, j) reads as a function call."""
    slips = re.findall(r"(?<![\w.])[xyw]\([ijml0-9][^()]*,[^()]*\)",
                       (BOOK / f"{page}.md").read_text())
    assert not slips, f"{page}.md: index an array with square brackets, y[i, j]: {slips}"


@pytest.mark.parametrize("page", sorted(p.stem for p in BOOK.glob("*.md")))
def test_the_class_of_a_score_is_k(page):
    """The notation page: z_k and p_k are the score and probability of class k (i is a row)."""
    slips = re.findall(r"\b[pz]_i\b|\[i = y\]", (BOOK / f"{page}.md").read_text())
    assert not slips, f"{page}.md: a class index is k, as in z_k and p_k: {slips}"


# Terms the course uses in passing before the chapter that teaches them: the first chapter (in
# reading order) that says the word must also explain it in bold there.
TERMS_EXPLAINED_AT_FIRST_USE = ["epoch"]


@pytest.mark.parametrize("term", TERMS_EXPLAINED_AT_FIRST_USE)
def test_a_term_is_explained_where_the_reader_first_meets_it(term):
    for chapter in _course_chapters():
        prose = _prose((BOOK / f"{chapter}.md").read_text())
        if re.search(rf"\b{term}s?\b", prose, flags=re.I):
            assert re.search(rf"\*\*{term}s?\*\*", prose, flags=re.I), (
                f"{chapter}.md is the first chapter to say {term!r}: explain it there, in bold")
            return
    pytest.fail(f"no chapter says {term!r}")


def test_the_teaching_pages_link_pattern_reads_bare_and_titled_links():
    """book/teaching.md names the earlier chapters the learning chapter builds on, from the links
    its DOC_LINK pattern finds. A pattern for bare links alone ({doc}`04_convolution`) missed
    {doc}`Chapter 2 <02_what_is_a_cnn>`, and the page said "chapter 4 alone". The pattern
    must find every {doc} link of every page, with its target."""
    source = (BOOK / "teaching.md").read_text()
    pattern = re.compile(re.search(r'^DOC_LINK = re\.compile\(r"(.+)"\)$', source, flags=re.M)[1])
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text()
        targets = [Path(link.split("<")[-1].rstrip(">")).name for link in re.findall(r"\{doc\}`([^`]+)`", text)]
        assert pattern.findall(text) == targets, page.name
    found = set(pattern.findall((BOOK / "07c_how_a_network_learns.md").read_text()))
    assert {"02_what_is_a_cnn", "04_convolution"} <= found, found


# Works the References page lists, how a chapter names them, and the chapters that do.
CITED = {
    "Dumoulin, V. and Visin, F. (2016)": ("Dumoulin and Visin", ["05_hyperparameters", "07b_one_by_one"]),
    "Yu, F. and Koltun, V. (2016)": ("Yu and Koltun", ["07b_one_by_one"]),
    "Zhang, A., Lipton, Z. C., Li, M. and Smola, A. J. (2023)": ("Dive into Deep Learning",
                                                              ["08_putting_it_together"]),
    "Karpathy, A. and others": ("CS231n", ["05b_matrix_product", "08_putting_it_together"]),
}


@pytest.mark.parametrize("entry", sorted(CITED))
def test_a_work_the_chapters_cite_is_on_the_references_page_with_those_chapters(entry):
    """A teacher's review found works the chapters name (d2l.ai, CS231n) missing from the
    References page. Each entry links the chapters that cite it, and they do."""
    refs = (BOOK / "references.md").read_text()
    entries = re.split(r"^- ", refs, flags=re.M)[1:]
    found = [e for e in entries if e.startswith(entry)]
    assert len(found) == 1, f"references.md: no entry starting {entry!r}"
    named_as, chapters = CITED[entry]
    assert re.findall(r"\{doc\}`[Cc]hapter \d+ <(\w+)>`", found[0]) == chapters, found[0]
    for chapter in chapters:
        assert named_as in _prose((BOOK / f"{chapter}.md").read_text()), (chapter, named_as)
    surnames = [e.split(",")[0] for e in entries]
    assert surnames == sorted(surnames), "references.md: alphabetical order of the first author"
