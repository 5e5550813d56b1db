# Two commands set everything up on a fresh machine that has Python 3.11 and make:
#   make book   -> creates .venv, installs, builds the book into _build/html
#   make test   -> creates .venv if missing, installs, builds the book, runs every test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# The install makes cnnlib an editable install of THIS checkout: a venv outside it (another
# clone's, one shared by several teaching assistants) would be repointed at this checkout.
ifeq ($(filter $(CURDIR)/%,$(abspath $(VENV))),)
$(error VENV=$(VENV) lies outside this checkout ($(CURDIR)): installing into it would point its \
cnnlib at this checkout. Use the default .venv here, or run that venv's tools directly, e.g. \
$(VENV)/bin/python -m grading.grade)
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going

.PHONY: help venv book book-clean test test-fast bench exercises grade demo-class chromium clean student-kit

help:
	@echo "make book       build the book into _build/html (creates .venv on first use)"
	@echo "make test       build the book and run every test (unit, notebooks, grading, browser)"
	@echo "make bench      print the benchmark tables (not part of make test)"
	@echo "make exercises  regenerate exercises/ from solutions/ with nbgrader"
	@echo "make grade      autograde every submission under submitted/"
	@echo "make demo-class fill submitted/ with a made-up class to try make grade on"
	@echo "make student-kit  write _build/student-kit/ and its .zip: what students get (no solutions)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Sphinx and the execution cache only notice changes to the chapters themselves; chapters also
# run cnnlib and the book's helpers (figures.py, readable_text.py, matplotlibrc ...), and the
# Exercises page reads the released notebooks and the grader's constants, so a change to any of
# them makes every chapter run again (the hash of the last good build is kept in
# _build/.code-hash; subpackages such as cnnlib/engine count too).
CODE_HASH = $(shell find cnnlib book grading/checks exercises \( -name '*.py' -o -name matplotlibrc \
                -o -name '*.ipynb' \) -not -path 'book/_ext/*' -not -path '*/.ipynb_checkpoints/*' \
                | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)

# The table of contents, the configuration and the Sphinx extensions of book/_ext shape every
# page but run no chapter: a change to them makes Sphinx write every page again, from the
# execution cache (Sphinx alone would keep the other pages' old sidebars and links).
PAGE_HASH = $(shell cat _toc.yml _config.yml $$(find book/_ext -name '*.py' | LC_ALL=C sort) \
                | sha256sum | cut -c1-16)

# One BLAS thread per chapter kernel: the chapters multiply small matrices, where a second
# thread costs more than it saves when the machine is busy, and the timing tables of 05b and
# 07b give every method one core (cnnlib.fit and cnnlib's engine choose their threads themselves).
# CNNLIB_CONV_PATH=plans: conv2d does not time itself against im2col (a choice that can differ
# between processes), so every build trains the same networks to the same numbers.
book: $(STAMP)
	@if [ -d _build ] && [ "$$(cat _build/.code-hash 2>/dev/null)" != "$(CODE_HASH)" ]; then \
	  echo "cnnlib or the book's helpers changed since the last build: every chapter runs again"; \
	  rm -rf _build/.doctrees _build/.jupyter_cache _build/jupyter_execute; fi
	@if [ -d _build ] && [ "$$(cat _build/.page-hash 2>/dev/null)" != "$(PAGE_HASH)" ]; then \
	  echo "_toc.yml, _config.yml or book/_ext changed since the last build: every page is written again"; \
	  rm -rf _build/.doctrees _build/html; fi
	@# matplotlib's font cache (~/.cache/matplotlib) is shared by every venv of the account. One
	@# built while a venv was being removed lacked matplotlib's own fonts (STIX, DejaVu's math):
	@# every chapter's log axes then wrote "findfont: ... not found" on stderr, a warning that
	@# fails the build. So the cache is checked here, outside the chapters, and made again when
	@# it lacks those fonts or lists a file that is gone (a first build also happens here). The
	@# fonts are asked for by name: a good cache that another venv made is kept.
	$(BIN)/python -c "import os, matplotlib.font_manager as fm; fonts = fm.fontManager.ttflist; \
	  ok = {'STIXGeneral', 'DejaVu Sans', 'cmr10'} <= {f.name for f in fonts} \
	  and all(os.path.exists(f.fname) for f in fonts); ok or fm._load_fontmanager(try_read_cache=False)"
	OPENBLAS_NUM_THREADS=1 CNNLIB_CONV_PATH=plans $(BIN)/jupyter-book build . $(JB_FLAGS)
	@# Sphinx copies the static files only when a page is rebuilt: a change to book.css or a
	@# script alone would not reach the site
	cp book/_assets/* _build/html/_static/
	@echo "$(CODE_HASH)" > _build/.code-hash
	@echo "$(PAGE_HASH)" > _build/.page-hash

book-clean:
	rm -rf _build .jupyter_cache

# The browser test needs Debian's chromium; install it when missing (root on Debian, as in CI).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "make test needs chromium for the browser test: sudo apt-get install chromium" >&2; exit 1; fi; }

test: $(STAMP) chromium book
	$(BIN)/python -m pytest

# The bench's peers (PyTorch, numpy-ml, mygrad) are installed here only, never by requirements.txt.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt || \
	  echo "make bench: could not install bench/requirements.txt; the missing peers' rows say so" >&2
	$(BIN)/python -m bench

exercises: $(STAMP)
	$(BIN)/python -m grading.release

# What students get: released notebooks, the book's HTML, cnnlib and the pre-hand-in check.
student-kit: $(STAMP) book
	$(BIN)/python -m grading.student_kit

# make grade ARGS="--assignment 02_convolution --student ada --force"
grade: $(STAMP)
	$(BIN)/python -m grading.grade $(ARGS)

# A dozen made-up students in submitted/ (and roster.csv), to try `make grade` on.
demo-class: $(STAMP)
	$(BIN)/python -m grading.demo_class $(ARGS)

# A class's grades are not build output: with submissions in submitted/, the gradebook (hand
# grades, due dates), the graded notebooks and the exports stay.
GRADING_OUTPUT := autograded feedback gradebook.db grades.csv grades-lms.csv class_report.html
clean: book-clean
	rm -rf tests/screenshots
	@if [ -d submitted ] && [ -n "$$(ls -A submitted)" ]; then \
	  echo "make clean: kept the class's grades ($(GRADING_OUTPUT)): submitted/ holds submissions"; \
	else echo "rm -rf $(GRADING_OUTPUT)"; rm -rf $(GRADING_OUTPUT); fi
