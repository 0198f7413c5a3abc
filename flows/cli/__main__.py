"""`python -m flows.cli ARGS`: the `newswatch` command, from a checkout without the installed script."""

import sys

from flows.cli.main import main

sys.exit(main())
