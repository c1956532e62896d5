"""Graded pytest suite (one test per question).  See conftest.py for how to run it."""
