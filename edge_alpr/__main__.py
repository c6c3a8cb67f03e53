"""``python -m edge_alpr`` is the same as the ``edge-alpr`` command."""

import sys

from .cli import main

sys.exit(main())
