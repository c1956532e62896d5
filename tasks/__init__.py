"""Course exercise package: fine-tune BERT / ERNIE on four tasks with one engine.

Importing this package tunes the CPU thread settings *before* paddle is imported
(see tasks/cpu.py); the user's own environment variables always win.
"""
from tasks.cpu import apply_cpu_settings

apply_cpu_settings()
