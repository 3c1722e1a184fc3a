"""The `edge-albert` command line: parse, call one library function, print.

Exit codes: 0 success, 1 a check failed (regression gate), 2 bad usage or bad input. Heavy
libraries are imported inside each command so `--help` stays fast. One module per stage group;
importing them registers their commands on `main`.
"""

from edge_albert.cli import compress, convert, ship, train, validate  # noqa: F401 (registers the commands)
from edge_albert.cli.group import main

__all__ = ["main"]
