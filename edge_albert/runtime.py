"""The former name of `edge_albert.on_device`, kept so that existing imports keep working.

Renamed so the on-device runtime is not confused with `edge_albert.runtimes`, the runtime adapters."""

import warnings

from edge_albert.on_device import *  # noqa: F403 (the same public names)
from edge_albert.on_device import __all__  # noqa: F401

warnings.warn("edge_albert.runtime is now edge_albert.on_device; import from there", DeprecationWarning, stacklevel=2)
