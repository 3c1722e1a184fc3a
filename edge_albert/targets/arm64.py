"""ARM64 under qemu user-mode emulation: the real aarch64 builds of ONNX Runtime and LiteRT,
so their ARM kernels (MLAS arm64, XNNPACK NEON) compute the logits.

`ensure_arm64_environment()` builds, once, in a cache folder and without changing the host beyond
apt downloads:
- qemu: `qemu-user` 10 from bookworm-backports, fetched with a private apt configuration and
  unpacked (its qemu-aarch64 is static). Bookworm's own qemu 7.2 passes the host's x86
  /proc/cpuinfo to the guest, and onnxruntime segfaults on import under it.
- userland: `debootstrap --foreign --variant=minbase --arch=arm64 --include=python3 bookworm`,
  then the base packages unpacked with `dpkg-deb --fsys-tarfile | tar --keep-directory-symlink`
  (plain `dpkg -x` can replace the /lib -> usr/lib link). binfmt_misc is not needed: qemu is run
  on the guest's python3.11 directly with `-L ROOT`.
- wheels: the host's versions of onnxruntime, ai-edge-litert, numpy and sentencepiece, for
  aarch64, with `pip install --target`. Every manylinux glibc tag is listed: pip does not expand
  a tag to older glibc versions, and with too few tags it silently picks an old release.
- ExecuTorch, on first use of a `.pte` file: a second folder (`site-executorch`) with the host's
  versions of executorch and torch for aarch64 (its Python runtime links torch's libraries) and
  the pure-Python modules their imports need. PyPI's aarch64 torch is a CUDA build whose NVIDIA
  libraries the registries hold as empty placeholders; `cuda_stubs` writes stand-ins that report
  "no CUDA device", so torch imports and runs on the CPU. About 450 MB to download.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from edge_albert.cache import build_lock, cache_dir
from edge_albert.errors import InputError
from edge_albert.staging import staged_directory
from edge_albert.system_tools import find_tool
from edge_albert.targets.base import PACKAGE_ROOT, Target, TargetError, check_process
from edge_albert.targets.harness import JOB_FILE

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
WHEELS = ("onnxruntime", "ai-edge-litert", "numpy", "sentencepiece")
GLIBC_MINORS = range(17, 37)  # manylinux_2_17 .. manylinux_2_36 (bookworm has glibc 2.36)
CPUS = ("cortex-a53", "cortex-a72", "cortex-a76", "neoverse-n1", "max")
ENV_FILE = "environment.json"
EXECUTORCH_SITE = "site-executorch"
# What importing torch and executorch's runtime needs beyond the base site, installed without their
# requirements (torch's name CUDA wheels; executorch's the whole export stack).
EXECUTORCH_WHEELS = ("torch", "executorch", "typing-extensions", "sympy", "mpmath", "networkx", "filelock", "jinja2", "markupsafe", "fsspec",
                     "ruamel.yaml", "pyyaml", "tabulate", "packaging", "flatbuffers")


@dataclass
class Arm64Environment:
    folder: Path
    qemu: Path
    root: Path
    site: Path
    versions: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / "python3.11"

    @property
    def executorch_site(self) -> Path:
        return self.folder / EXECUTORCH_SITE

    def command(self, args: list[str], cpu: str = "cortex-a72", *, executorch: bool = False) -> tuple[list[str], dict[str, str]]:
        """The host command and environment that run the guest's python with `args` (with the
        ExecuTorch folder on its path when `executorch`)."""
        sites = [str(self.executorch_site)] if executorch else []
        env = dict(os.environ, QEMU_CPU=cpu, PYTHONPATH=":".join([*sites, str(self.site), str(PACKAGE_ROOT)]), PYTHONDONTWRITEBYTECODE="1",
                   PYTHONNOUSERSITE="1")
        env.pop("PYTHONHOME", None)
        return [str(self.qemu), "-L", str(self.root), str(self.python), *args], env


def default_cache() -> Path:
    return cache_dir() / "arm64"


def _host_versions() -> dict[str, str]:
    out = {}
    for name in WHEELS:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            raise InputError(f"{name} is not installed on this host; the ARM64 environment uses the host's versions (pip install edge-albert)") from None
    return out


def _mirror() -> str:
    """The Debian mirror the host's apt uses (so a local mirror or proxy is honoured)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s+", text, re.M)
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


def load_arm64_environment(folder: Path | None = None) -> Arm64Environment | None:
    """The cached environment, or None when it was never built or is incomplete."""
    folder = Path(folder) if folder else default_cache()
    try:
        data = json.loads((folder / ENV_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    env = Arm64Environment(folder, folder / "qemu-aarch64", folder / "root", folder / "site", data.get("versions", {}))
    if not (env.qemu.is_file() and env.python.is_file() and env.site.is_dir()):
        return None
    return env


def _run(cmd: list[str], what: str, **kw) -> None:
    proc = subprocess.run(cmd, capture_output=True, **kw)
    check_process(proc, what)


def _fetch_qemu(work: Path, mirror: str, dest: Path) -> None:
    apt = work / "apt"
    for sub in ("state/lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(f"deb {mirror} {SUITE}-backports main\n")
    opts = [f"-oDir::Etc::SourceList={apt / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null", f"-oDir::State={apt / 'state'}",
            f"-oDir::Cache={apt / 'cache'}", "-oDebug::NoLocking=1", "-oAPT::Sandbox::User=root", "-qq"]
    _run(["apt-get", *opts, "update"], "apt-get update (bookworm-backports)")
    _run(["apt-get", *opts, "download", f"qemu-user/{SUITE}-backports"], "apt-get download qemu-user", cwd=apt)
    debs = sorted(apt.glob("qemu-user_*.deb"))
    if not debs:
        raise TargetError("apt-get download qemu-user left no .deb")
    unpacked = work / "qemu-deb"
    _run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], "dpkg-deb -x qemu-user")
    shutil.copy2(unpacked / "usr" / "bin" / "qemu-aarch64", dest)


def _bootstrap(root: Path, mirror: str) -> None:
    debootstrap = find_tool("debootstrap")
    if debootstrap is None:
        raise TargetError("debootstrap is not installed: apt-get install debootstrap")
    _run([debootstrap, "--foreign", "--variant=minbase", "--arch=arm64", "--include=python3", SUITE, str(root), mirror],
         "debootstrap (arm64 userland)")
    paths = dict(line.split(maxsplit=1) for line in (root / "debootstrap" / "debpaths").read_text().splitlines() if line.strip())
    for package in (root / "debootstrap" / "base").read_text().split():
        deb = root / paths[package].strip().lstrip("/")
        tar = subprocess.Popen(["tar", "-x", "--keep-directory-symlink", "-C", str(root)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        extract = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=tar.stdin, stderr=subprocess.PIPE)
        tar.stdin.close()
        if tar.wait() != 0 or extract.returncode != 0:
            raise TargetError(f"unpacking {deb.name} into the arm64 userland failed")
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)


def _install_wheels(site: Path, versions: dict[str, str], *, no_deps: bool = False) -> None:
    platforms = ["--platform", "manylinux2014_aarch64"]
    for minor in GLIBC_MINORS:
        platforms += ["--platform", f"manylinux_2_{minor}_aarch64"]
    _run([find_tool("python3", "python") or "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-warn-conflicts",
          *(["--no-deps"] if no_deps else []), "--target", str(site), "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
          "--abi", "cp311", *platforms, *[f"{k}=={v}" for k, v in versions.items()]], "pip install (aarch64 wheels)")


def _executorch_versions() -> dict[str, str]:
    out = {}
    for name in EXECUTORCH_WHEELS:
        try:
            # the host's torch is "2.13.0+cpu"; PyPI's aarch64 wheel of the same release has no local tag
            out[name] = importlib_metadata.version(name).split("+")[0]
        except importlib_metadata.PackageNotFoundError:
            raise InputError(f"{name} is not installed on this host; .pte files on the ARM64 target need pip install 'edge-albert[executorch]'") from None
    return out


def ensure_executorch_site(env: Arm64Environment, *, log=lambda msg: None) -> Path:
    """The guest's ExecuTorch folder beside `env`'s site, built when missing or of other versions."""
    from edge_albert.targets.cuda_stubs import write_cuda_stubs

    versions = _executorch_versions()
    folder = env.executorch_site
    with build_lock(folder):
        try:
            if json.loads((folder / ENV_FILE).read_text(encoding="utf-8")).get("versions") == versions:
                return folder
        except (OSError, ValueError):
            pass
        log("aarch64 wheels: " + ", ".join(f"{k}=={v}" for k, v in versions.items() if k in ("torch", "executorch")))
        # Built beside the final folder and renamed when complete: an interrupted setup leaves nothing half-built.
        with staged_directory(folder, force=True) as work:
            _install_wheels(work, versions, no_deps=True)
            libs = [p for p in (work / "torch" / "lib").glob("*.so*") if p.is_file()] + [p for p in (work / "executorch").rglob("*.so") if p.is_file()]
            present = {p.name for p in libs}
            for sub in ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"):
                if (env.root / sub).is_dir():
                    present |= {p.name for p in (env.root / sub).iterdir()}
            # torch's libraries find their neighbours through RPATH $ORIGIN: the stubs go beside them
            stubs = write_cuda_stubs(libs, present, work / "torch" / "lib")
            (work / ENV_FILE).write_text(json.dumps({"versions": versions, "cuda_stubs": stubs}, indent=2) + "\n")
    return folder


def ensure_arm64_environment(folder: Path | None = None, *, refresh: bool = False, log=lambda msg: None) -> Arm64Environment:
    """The ARM64 environment in `folder` (default: the edge-albert cache), built when missing."""
    folder = Path(folder) if folder else default_cache()
    versions = _host_versions()
    with build_lock(folder):
        env = None if refresh else load_arm64_environment(folder)
        if env is not None and env.versions == versions:
            return env
        _build(folder, versions, log)
    env = load_arm64_environment(folder)
    if env is None:
        raise TargetError("the ARM64 environment was built but does not load", folder)
    return env


def _build(folder: Path, versions: dict[str, str], log) -> None:
    mirror = _mirror()
    # Build beside the final folder and rename when complete: an interrupted setup leaves nothing half-built.
    with staged_directory(folder, force=True) as work:
        log(f"qemu-user from {SUITE}-backports ({mirror})")
        _fetch_qemu(work, mirror, work / "qemu-aarch64")
        log("arm64 userland with python3 (debootstrap)")
        _bootstrap(work / "root", mirror)
        log("aarch64 wheels: " + ", ".join(f"{k}=={v}" for k, v in versions.items()))
        _install_wheels(work / "site", versions)
        shutil.rmtree(work / "apt", ignore_errors=True)
        shutil.rmtree(work / "qemu-deb", ignore_errors=True)
        qemu_version = subprocess.run([str(work / "qemu-aarch64"), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        (work / ENV_FILE).write_text(json.dumps({"versions": versions, "qemu": qemu_version, "mirror": mirror}, indent=2) + "\n")


class QemuArm64Target(Target):
    """The aarch64 Python with aarch64 onnxruntime / ai-edge-litert, under qemu-aarch64."""

    def __init__(self, environment: Arm64Environment | None = None, cpu: str = "cortex-a72") -> None:
        if cpu not in CPUS:
            raise InputError(f"unknown qemu CPU {cpu!r}; choose one of {', '.join(CPUS)}")
        self._environment = environment  # built on first use, so parsing a target spec stays cheap
        self.cpu = cpu
        self.name = f"qemu-arm64:{cpu}"
        self.formats = (".onnx", ".ort", ".tflite", ".pte")
        self.emulated = f"qemu-aarch64 {cpu}"
        self.jobs = len(os.sched_getaffinity(0))

    @property
    def environment(self) -> Arm64Environment:
        if self._environment is None:
            self._environment = ensure_arm64_environment()
        return self._environment

    def execute(self, job_dir: Path, *, timeout: float) -> None:
        job = json.loads((Path(job_dir) / JOB_FILE).read_text(encoding="utf-8"))
        executorch = any(m["file"].endswith(".pte") for m in job["models"])
        if executorch:
            ensure_executorch_site(self.environment)
        cmd, env = self.environment.command(["-m", "edge_albert.targets.harness", str(job_dir)], self.cpu, executorch=executorch)
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
        check_process(proc, f"harness under {self.emulated}")


def describe(env: Arm64Environment) -> dict:
    size = sum(p.stat().st_size for p in env.folder.rglob("*") if p.is_file() and not p.is_symlink())
    info = {**{k: str(v) for k, v in asdict(env).items() if k != "versions"}, "versions": env.versions, "bytes": size}
    try:
        info["executorch"] = json.loads((env.executorch_site / ENV_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info["executorch"] = None  # built on the first .pte file
    return info


__all__ = ["Arm64Environment", "ensure_arm64_environment", "ensure_executorch_site", "load_arm64_environment", "QemuArm64Target", "default_cache", "describe", "CPUS"]
