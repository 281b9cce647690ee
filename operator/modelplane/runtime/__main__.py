"""`python -m modelplane.runtime` runs the launcher CLI."""

import sys

from modelplane.runtime.cli import main

sys.exit(main())
