"""The `newswatch` command line: the parser (`main`), one module per command (named after it),
and what the commands share (`shared`). No command imports another."""
