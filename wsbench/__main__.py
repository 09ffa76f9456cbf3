"""``python -m wsbench``: the wsbench command."""

import sys

from .cli import main

sys.exit(main())
