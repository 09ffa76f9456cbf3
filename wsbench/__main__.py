"""``python -m wsbench``: the wsbench command (see :mod:`wsbench.cli`)."""

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
