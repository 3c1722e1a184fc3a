"""Inference runtimes behind one small interface: `open_session(path)` -> `Session.run(batch)`.

Adapters for ONNX Runtime and LiteRT import only numpy and their runtime (no torch), so the
on-device runtime can use them; the PyTorch adapter is for the reference model.
"""

from edge_albert.runtimes.base import Session, open_session, pick_bucket

__all__ = ["Session", "open_session", "pick_bucket"]
