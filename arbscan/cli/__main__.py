"""``python -m arbscan.cli``: the same as the ``arbscan`` console script."""

import sys

from arbscan.cli.command import main

sys.exit(main())
