"""`python -m edge_albert.cli`."""

from edge_albert.cli import main

main()
