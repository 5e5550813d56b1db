"""grading/demo_class.py without grading: the notebooks it writes."""
from __future__ import annotations

import nbformat

import grading_helpers as gh
from grading import demo_class


def test_the_demo_class_notebooks_are_valid_nbformat():
    """Ivy's trial: `nbgrader generate_feedback 05_pooling` printed "Notebook JSON is invalid:
    'id' was unexpected" for emma's notebook: a pasted cell with an id in an nbformat 4.4
    notebook (cell ids came with 4.5). Every notebook the demo writes must validate."""
    checked = 0
    for (student, assignment), (nb, name, stamp) in demo_class.students(gh.REPO).items():
        if isinstance(nb, str):   # ines's broken file, on purpose
            continue
        nbformat.validate(nbformat.reads(nbformat.writes(nb), as_version=4))
        checked += 1
    assert checked == 21


def test_remove_still_knows_a_demo_written_with_cell_ids(tmp_path):
    """A demo class written before the fix (a pasted cell with an id) is still the demo's for
    `--remove`: a student's folder is kept only when its files are not the demo's."""
    import copy
    import json
    written = {a: v for (s, a), v in demo_class.students(gh.REPO).items() if s == "emma"}
    for a, (nb, name, stamp) in written.items():
        old = json.loads(nbformat.writes(nb))
        for i, cell in enumerate(old["cells"]):
            cell["id"] = f"cell-{i}"
        (tmp_path / a).mkdir()
        (tmp_path / a / name).write_text(json.dumps(old))
        (tmp_path / a / "timestamp.txt").write_text(stamp + "\n")
    assert demo_class._holds_only_the_demo(tmp_path, written)
    changed = copy.deepcopy(written)
    a = next(iter(changed))
    (tmp_path / a / changed[a][1]).write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert not demo_class._holds_only_the_demo(tmp_path, written)


def test_remove_with_a_missing_release_notebook(tmp_path, capsys):
    """Session 26: a failed `make exercises` had deleted exercises/02_convolution/...ipynb, and
    `python -m grading.demo_class --remove` crashed with FileNotFoundError. It now takes the
    committed notebook from git; without one it keeps the folders it cannot recognise and says
    how to restore the release."""
    import subprocess

    from grading.grade import alembic_on_path
    alembic_on_path()
    root = gh.make_course(tmp_path, list(demo_class.ASSIGNMENTS))
    for a in demo_class.ASSIGNMENTS:   # the release as committed (make_course's is not normalised)
        (root / "exercises" / a / f"{a}.ipynb").write_bytes((gh.REPO / "exercises" / a / f"{a}.ipynb").read_bytes())
    demo_class.write(root)
    missing = root / "exercises" / "02_convolution" / "02_convolution.ipynb"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.edu"]
    for args in (["init", "-q"], ["add", "exercises"], ["commit", "-q", "-m", "release"]):
        subprocess.run(git + args, cwd=root, check=True, capture_output=True)

    missing.unlink()
    (root / ".git").rename(root / ".git-away")    # neither the file nor git: keep, and say so
    assert demo_class.main(["--root", str(root), "--remove"]) == 0
    out = capsys.readouterr().out
    assert "02_convolution} missing (and not in git)" in out and "git checkout" in out, out
    kept = sorted(p.name for p in (root / "submitted").iterdir())
    assert "ada" in kept and "hugo" in kept and not missing.exists()

    (root / ".git-away").rename(root / ".git")    # the committed notebook: the demo is recognised
    assert demo_class.main(["--root", str(root), "--remove"]) == 0
    assert not (root / "submitted").exists() or not list((root / "submitted").iterdir())
    assert not missing.exists()   # --remove restores nothing: `make exercises` does
