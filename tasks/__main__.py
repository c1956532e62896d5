"""python -m tasks: the package's one command line. See `python -m tasks --help`."""
import sys

from tasks.cli import main

sys.exit(main())
