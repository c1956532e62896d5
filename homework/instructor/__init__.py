"""Instructor-only material: reference solutions, multiple-choice keys, realistic wrong submissions.

In a real course keep this folder out of the repository students receive.
"""
