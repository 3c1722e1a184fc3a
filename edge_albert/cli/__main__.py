"""`python -m edge_albert.cli`."""

from edge_albert.cli import main

# Guarded: worker processes started with "spawn" (`edge-albert prepare`) import this module again.
if __name__ == "__main__":
    main()
