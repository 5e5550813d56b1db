"""Root pytest configuration: make the trusted `grading` package importable from notebooks.

nbval starts each solution notebook's kernel in the notebook's own folder, so the repository
root goes on PYTHONPATH for every kernel and child process the tests start.
"""
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p
)
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes a minute or more (deselect with -m 'not slow')")
    config.addinivalue_line("markers", "dask: starts a Dask cluster (scheduler and workers on loopback)")


def pytest_terminal_summary(terminalreporter):
    """The catalogue's figures (tests/grading_catalogue/report.py), when its tests ran."""
    report = sys.modules.get("grading_catalogue.report")
    text = report.table() if report else ""
    if text:
        terminalreporter.write_sep("=", "wrong submissions caught, per assignment (grading catalogue)")
        terminalreporter.write_line(text)
