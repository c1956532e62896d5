"""Self-checking homework for the PaddlePaddle / PaddleNLP course.

Students: edit homework/assignments/<name>.py, then `python -m homework check <name>`.
Instructors: `python -m homework grade <submissions> --out <dir>`.
See homework/README.md.
"""
