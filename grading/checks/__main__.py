"""``python -m grading.checks notebook.ipynb``: the pre-hand-in check from a shell."""
import sys

from .prehandin import main

sys.exit(main())
