"""``python -m edge_alpr`` is the same as the ``edge-alpr`` command (``entry.py``: Ctrl-C while
it starts exits 130 quietly)."""

import sys

from .entry import main

sys.exit(main())
