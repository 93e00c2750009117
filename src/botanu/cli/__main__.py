"""``python -m botanu.cli``: the same as the ``botanu`` command."""

import sys

from botanu.cli import main

sys.exit(main())
