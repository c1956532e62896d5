"""Entry script for several processes: paddle.distributed.launch takes a script path, not ``-m``.

    python -m paddle.distributed.launch --nproc_per_node 2 tasks/launch.py train --task ... --out ...
    python -m paddle.distributed.launch --devices 0,1,2,3 tasks/launch.py train ...   (4 GPUs)

(`python -m tasks train --nproc N ...` runs the first form for you.)
"""
import os
import sys

# Run as a script, this folder would be first on sys.path and tasks/io.py could shadow the
# standard library; the repository root goes there instead.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from tasks.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
