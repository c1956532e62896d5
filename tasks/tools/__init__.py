"""Maintainers' tools, not the student's commands: benchmarks and the recipe sweep
(`python -m tasks.tools --help`). They write under runs/, never to tracked files."""
