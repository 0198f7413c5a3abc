"""`python -m flows.cli ARGS`: the `newswatch` command, from a checkout without the installed script."""

from flows.cli.main import console

console()
