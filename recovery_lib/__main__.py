"""``python -m recovery_lib``: the ``recovery`` command line."""

import sys

from recovery_lib.cli import main

sys.exit(main())
