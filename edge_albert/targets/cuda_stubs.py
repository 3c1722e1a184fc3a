"""Stub CUDA libraries, so that PyPI's aarch64 torch (a CUDA build) imports on a machine without them.

ExecuTorch's aarch64 Python runtime links torch's libraries, and the only aarch64 torch on PyPI
links CUDA's (libcudart, libcublas, libcudnn, libnccl, ...) by name. The registries this project
uses hold those NVIDIA wheels as empty placeholders for aarch64, and a CPU program never calls
them. The dynamic linker still needs a file for every needed name and a definition for every
symbol version the libraries require, so this module writes, for each missing NVIDIA library, a
small ELF whose functions all return 100 (cudaErrorNoDevice: "no CUDA device"), with the same
soname and symbol versions, as CUDA's own `lib64/stubs` do for linking on machines without a GPU.

It needs the host's binutils for aarch64 (`aarch64-linux-gnu-readelf`, `-as` and `-ld`: Debian's
binutils-aarch64-linux-gnu).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from edge_albert.errors import InputError
from edge_albert.system_tools import find_tool

# The libraries stubbed: NVIDIA's, by soname. Anything else missing stays missing (an error if loaded).
NVIDIA_SONAME = re.compile(r"^lib(cu|nv|nccl)")
# Unversioned functions (NCCL, cuSPARSELt, cuFile and the driver API do not version theirs) go to
# the library their name says they come from.
UNVERSIONED_OWNERS = (("nccl", "libnccl.so.2"), ("cusparseLt", "libcusparseLt.so.0"), ("cuFile", "libcufile.so.0"),
                      ("nvshmem", "libnvshmem_host.so.3"), ("cudnn", "libcudnn.so.9"))
DRIVER_API = re.compile(r"^cu[A-Z]")
CROSS_BINUTILS = "binutils-aarch64-linux-gnu"


def _tool(name: str) -> str:
    path = find_tool(f"aarch64-linux-gnu-{name}")
    if path is None:
        raise InputError(f"aarch64-linux-gnu-{name} not found: apt-get install {CROSS_BINUTILS} (it builds the CUDA stubs aarch64 torch "
                         "needs to import)")
    return path


def _readelf(args: list[str], lib: Path) -> str:
    return subprocess.run([_tool("readelf"), *args, "-W", str(lib)], capture_output=True, text=True, check=True).stdout


def missing_nvidia_symbols(libraries: list[Path], present: set[str]) -> dict[str, dict[str, set[str]]]:
    """For each NVIDIA soname that `libraries` need and `present` lacks: its symbol versions
    ("" for none) and the functions the libraries import under each."""
    needed: set[str] = set()
    defined: set[str] = set()
    imports: list[tuple[str, str]] = []  # (symbol, version)
    version_file: dict[str, str] = {}
    for lib in libraries:
        needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", _readelf(["-d"], lib)))
        current = None
        for line in _readelf(["-V"], lib).splitlines():
            if m := re.search(r"File: (\S+)", line):
                current = m.group(1)
            elif (m := re.search(r"Name: (\S+)", line)) and current is not None:
                version_file[m.group(1)] = current
        for line in _readelf(["--dyn-syms"], lib).splitlines():
            fields = line.split()
            if len(fields) < 8 or not fields[0].endswith(":"):
                continue
            kind, bind, section, name = fields[3], fields[4], fields[6], fields[7]
            symbol, _, version = name.partition("@")
            version = version.lstrip("@")
            if section != "UND":
                defined.add(symbol)
            elif kind == "FUNC" or (version and bind != "WEAK"):
                imports.append((symbol, version))
    missing = {so for so in needed if so not in present and NVIDIA_SONAME.match(so)}
    stubs: dict[str, dict[str, set[str]]] = {so: defaultdict(set) for so in missing}
    for symbol, version in imports:
        if version:
            owner = version_file.get(version)
            if owner in missing:
                stubs[owner][version].add(symbol)
        elif symbol not in defined:
            owner = next((so for prefix, so in UNVERSIONED_OWNERS if symbol.startswith(prefix)), None)
            if owner is None and DRIVER_API.match(symbol):
                owner = "libcuda.so.1"
            if owner in missing:
                stubs[owner][""].add(symbol)
    return stubs


def write_stub(soname: str, versions: dict[str, set[str]], out_dir: Path) -> Path:
    """An aarch64 shared library named `soname` defining `versions`' functions, each returning 100."""
    asm = [".text", ".p2align 2"]
    for symbol in sorted(s for names in versions.values() for s in names):
        asm += [f".globl {symbol}", f".type {symbol}, %function", f"{symbol}:"]
    asm += ["mov w0, #100", "ret", ""]
    named = {v: sorted(s) for v, s in versions.items() if v}
    # A library whose users require symbol versions must define them (the dynamic linker checks them at
    # load); symbols in no version node stay global and unversioned.
    script = "".join(f"{v} {{ global: {'; '.join(syms)}; }};\n" for v, syms in sorted(named.items())) or "{ global: *; };\n"
    with tempfile.TemporaryDirectory(prefix="edge-albert-stub-") as tmp:
        src, obj, vmap = Path(tmp) / "stub.s", Path(tmp) / "stub.o", Path(tmp) / "stub.map"
        src.write_text("\n".join(asm))
        vmap.write_text(script)
        subprocess.run([_tool("as"), "-o", str(obj), str(src)], check=True, capture_output=True)
        target = out_dir / soname
        subprocess.run([_tool("ld"), "-shared", "-soname", soname, f"--version-script={vmap}", "-o", str(target), str(obj)],
                       check=True, capture_output=True)
    return target


def write_cuda_stubs(libraries: list[Path], present: set[str], out_dir: Path) -> list[str]:
    """Stub every NVIDIA library `libraries` need that `present` lacks into `out_dir`; the sonames."""
    stubs = missing_nvidia_symbols(libraries, present)
    for soname, versions in sorted(stubs.items()):
        write_stub(soname, versions, out_dir)
    return sorted(stubs)


__all__ = ["missing_nvidia_symbols", "write_stub", "write_cuda_stubs", "CROSS_BINUTILS"]
