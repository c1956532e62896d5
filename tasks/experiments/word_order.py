"""Single tower (a real cross-encoder) vs dual tower on the word-order set (data/matching_word_order):
the two texts hold the same characters, two entities swapped; coordinated (same meaning) or in
different roles (different meaning). The same dual tower, steps and seeds as ``towers``
(tasks/experiments/towers.py); the single tower joins the two texts in the trained layers and compares
each token with its twin in the other text (towers.settings says why); the character-overlap and
changed-positions baselines."""
from __future__ import annotations

from pathlib import Path

from tasks.experiments import towers


def run(quick: bool, out: Path) -> dict:
    return towers.report(towers.run_set("word_order", quick, out), out / "figure.png")
