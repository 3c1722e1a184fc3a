"""The `edge-albert` command group: errors as one line and exit code 2, dependencies' notices quieted."""

from __future__ import annotations

import logging
import os
import sys

import click

from edge_albert import __version__
from edge_albert.errors import InputError

# Modules of the `full` extra: without them only `predict` (the on-device runtime) works.
TOOLCHAIN_MODULES = {"torch", "onnx", "onnxscript", "safetensors", "litert_torch", "ai_edge_quantizer", "transformers"}


class _Group(click.Group):
    """Turns InputError into one line on stderr and exit code 2, with no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in TOOLCHAIN_MODULES:
                raise
            click.echo(f"error: this command needs the toolchain ({exc.name} is not installed): pip install 'edge-albert[full]'", err=True)
            sys.exit(2)


# Dependencies' notices that say nothing about the user's run: torch.onnx's "torchvision is not
# installed" (four per export), torchao's CUDA kernels that cannot load on a CPU machine, a torch
# deprecation inside torchao, and the TFLite converter's C++ INFO lines. Real warnings and errors
# still show; setting TF_CPP_MIN_LOG_LEVEL yourself keeps your value.
QUIET_LOGGERS = ("torch.onnx._internal.exporter._registration", "torchao", "torch.utils._pytree")


def _quiet_dependency_notices() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-albert")
def main() -> None:
    """Train, compress, convert, validate and ship ALBERT models: text classification, named
    entities and question answering.

    Every stage reads artifacts from disk and writes artifacts to disk, so each command runs on
    its own. Start with `edge-albert demo` to run the whole pipeline on built-in data.
    """
    _quiet_dependency_notices()
