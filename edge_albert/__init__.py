"""edge-albert: train, compress, convert, validate and ship ALBERT text classifiers.

The top-level package imports neither torch nor tensorflow, so that the on-device runtime
(`edge_albert.on_device`) works with only the `runtime` extra installed.
"""

__version__ = "0.1.0"
