"""Targets: where a model runs for validation (this host, Node.js, headless Chromium, ARM64 under qemu, a device over SSH).

    run_on_target(parse_target("qemu-arm64:cortex-a72"), [model.onnx], spiece, texts)
"""

from __future__ import annotations

from edge_albert.errors import InputError
from edge_albert.targets.base import LocalTarget, Target, TargetError, TargetModelResult, TargetRun, run_on_target

TARGET_SPECS = "local, node[:THREADS], browser[:THREADS], qemu-arm64[:CPU] or ssh://[user@]host[:port][?python=...&identity=...]"


def parse_target(spec: str) -> Target:
    """A target from its command-line name (see TARGET_SPECS)."""
    if spec == "local":
        return LocalTarget()
    kind, _, threads = spec.partition(":")
    if kind in ("node", "browser"):
        from edge_albert.targets.javascript import BrowserTarget, NodeTarget

        if threads and not (threads.isdigit() and 1 <= int(threads) <= 64):
            raise InputError(f"target {spec!r}: threads must be a number from 1 to 64, e.g. {kind}:2")
        return (NodeTarget if kind == "node" else BrowserTarget)(threads=int(threads) if threads else None)
    if spec == "qemu-arm64" or spec.startswith("qemu-arm64:"):
        from edge_albert.targets.arm64 import QemuArm64Target

        cpu = spec.partition(":")[2] or "cortex-a72"
        return QemuArm64Target(cpu=cpu)
    if spec.startswith("ssh://"):
        from edge_albert.targets.ssh import SshTarget

        return SshTarget.from_url(spec)
    raise InputError(f"unknown target {spec!r}; use {TARGET_SPECS}")


__all__ = ["Target", "TargetError", "TargetRun", "TargetModelResult", "LocalTarget", "run_on_target", "parse_target", "TARGET_SPECS"]
