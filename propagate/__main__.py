"""Allow ``python -m propagate``."""

import sys

from propagate.cli import main

sys.exit(main())
