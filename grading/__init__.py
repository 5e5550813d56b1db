"""Trusted, instructor-side grading for the course (never imported by student code).

checks/   what each graded test cell checks (cases drawn at grading time, compared with cnnlib)
sandbox   runs a student's code in a confined child process and returns plain values
the rest  nbgrader integration: pre-flight, the autograde preprocessor, `make grade`
"""
import sys as _sys

# nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (Jupyter
# pulls it in); that module builds a Lark grammar at import, seconds of CPU in every process
# that reads a notebook: the coordinator and each grading worker. Nothing here validates the
# "iri" formats it serves, so a process that loads the grader first goes without them.
if "jsonschema" not in _sys.modules:
    _sys.modules.setdefault("rfc3987_syntax", None)
