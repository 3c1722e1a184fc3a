"""A real device over SSH: a phone with Termux, a Raspberry Pi, an edge box.

The device needs Python 3.9+ with numpy, sentencepiece and the runtimes the job uses (`pip install
onnxruntime ai-edge-litert numpy sentencepiece`, or `pip install edge-albert`); no torch. The
harness is this host's `edge_albert` source (pure Python), copied with the job in one tar stream,
so host and device run the same harness code. Uses the system `ssh` client, so keys, agents and
`~/.ssh/config` host aliases work as they do for the user; BatchMode means no password prompt.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from edge_albert.errors import InputError
from edge_albert.targets.base import PACKAGE_ROOT, Target, TargetError, check_process
from edge_albert.targets.harness import RESULT_FILE


class SshTarget(Target):
    """`ssh://[user@]host[:port][?python=python3&identity=PATH&known_hosts=PATH]`"""

    def __init__(self, host: str, *, user: str | None = None, port: int | None = None, python: str = "python3",
                 identity: Path | None = None, known_hosts: Path | None = None, connect_timeout: int = 10) -> None:
        self.host, self.user, self.port, self.python = host, user, port, python
        self.identity, self.known_hosts, self.connect_timeout = identity, known_hosts, connect_timeout
        self.name = f"ssh://{user + '@' if user else ''}{host}{':' + str(port) if port else ''}"
        self.emulated = None

    @classmethod
    def from_url(cls, url: str) -> SshTarget:
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise InputError(f"bad SSH target {url!r}: expected ssh://[user@]host[:port][?python=python3&identity=KEY]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"python", "identity", "known_hosts"}
        if unknown:
            raise InputError(f"bad SSH target {url!r}: unknown option(s) {', '.join(sorted(unknown))} (python, identity, known_hosts)")
        return cls(parts.hostname, user=parts.username, port=parts.port, python=query.get("python", "python3"),
                   identity=Path(query["identity"]) if "identity" in query else None,
                   known_hosts=Path(query["known_hosts"]) if "known_hosts" in query else None)

    def _ssh(self, remote_command: str) -> list[str]:
        cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]
        if self.known_hosts:
            cmd += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
        else:
            cmd += ["-o", "StrictHostKeyChecking=accept-new"]
        if self.port:
            cmd += ["-p", str(self.port)]
        if self.identity:
            cmd += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        cmd.append(f"{self.user}@{self.host}" if self.user else self.host)
        return cmd + [remote_command]

    def _payload(self, job_dir: Path) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted((PACKAGE_ROOT / "edge_albert").rglob("*.py")):
                tar.add(path, arcname=str(Path("pkg") / path.relative_to(PACKAGE_ROOT)))
            tar.add(job_dir, arcname="job")
        return buf.getvalue()

    def execute(self, job_dir: Path, *, timeout: float) -> None:
        py = shlex.quote(self.python)
        # One connection: make a private folder, unpack, run, print the result, clean up.
        script = (
            'set -e; d=$(mktemp -d "${TMPDIR:-/tmp}/edge-albert.XXXXXX"); trap \'rm -rf "$d"\' EXIT; '
            'cd "$d"; tar -xzf -; '
            f'PYTHONPATH="$d/pkg" PYTHONDONTWRITEBYTECODE=1 {py} -m edge_albert.targets.harness "$d/job" >&2; '
            f'cat "$d/job/{RESULT_FILE}"'
        )
        try:
            proc = subprocess.run(self._ssh(f"sh -c {shlex.quote(script)}"), input=self._payload(job_dir), capture_output=True, timeout=timeout)
        except FileNotFoundError:
            raise TargetError("the ssh client is not installed (apt-get install openssh-client)") from None
        check_process(proc, f"harness on {self.name}")
        (Path(job_dir) / RESULT_FILE).write_bytes(proc.stdout)


__all__ = ["SshTarget"]
