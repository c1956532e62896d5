"""The shared engine: batching, metrics, task base class, training loop, plots, runner."""
import os

from paddlenlp.utils.log import logger as _paddlenlp_logger

# PaddleNLP logs every save/load at INFO and lists unused weights (e.g. layers cut by
# `@N`) as warnings; students need our progress lines, not those. COURSE_VERBOSE=1 keeps them.
if os.environ.get("COURSE_VERBOSE") != "1":
    _paddlenlp_logger.set_level("ERROR")
