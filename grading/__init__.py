"""Trusted, instructor-side grading for the course (never imported by student code).

checks/   what each graded test cell checks (cases drawn at grading time, compared with cnnlib)
sandbox   runs a student's code in a confined child process and returns plain values
the rest  nbgrader integration: pre-flight, the autograde preprocessor, `make grade`
"""
