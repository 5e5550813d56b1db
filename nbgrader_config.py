"""nbgrader configuration for the course; run nbgrader from the repository root.

solutions/ is the source directory (instructor notebooks with solutions and hidden tests),
exercises/ the release directory (what students download; generated, never edited by hand).
"""
import os
import sys

c = get_config()  # noqa: F821  (injected by nbgrader)

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "cnn-from-scratch"
