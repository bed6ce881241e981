"""Start and stop the official Firestore and Pub/Sub emulators, never through `gcloud`.

Both are started directly (Firestore from its jar, since its wrapper script does not hand over
to java; Pub/Sub from its script, which does), each in its own process group on a free
127.0.0.1 port, and stopped with the whole group so no java process is left behind.

Firestore data can be exported (`export_firestore`, the managed export's format) and loaded
back only when the emulator starts (`--import-data`): `Emulator.restart(import_data=...)`
restarts a running Firestore emulator on its own port with an export loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.serving import LOCALHOST, free_port

SDK = Path(os.environ.get("GOOGLE_CLOUD_SDK_ROOT", "/usr/lib/google-cloud-sdk"))
FIRESTORE_JAR = SDK / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
PUBSUB_SCRIPT = SDK / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"


class EmulatorError(RuntimeError):
    pass


def die_with_parent(command: list[str]) -> list[str]:
    """The command wrapped so that it gets SIGTERM when its parent dies, even if the parent
    is killed, so an interrupted run leaves no emulator or function behind. Uses util-linux's
    `setpriv --pdeathsig` (an exec, not a Python `preexec_fn`, which is unsafe in a process
    with gRPC threads); without it the command runs as is."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def missing_emulators() -> list[str]:
    return [str(path) for path in (FIRESTORE_JAR, PUBSUB_SCRIPT) if not path.exists()]


@dataclass
class Emulator:
    name: str
    command: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> Emulator:
        return self.spawn().wait_ready(timeout)

    def spawn(self, append_log: bool = False) -> Emulator:
        """Start the process (from the calling thread: it dies with this process's thread)."""
        log = self.log_path.open("ab" if append_log else "wb")
        self.process = subprocess.Popen(
            die_with_parent(self.command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> Emulator:
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorError(
                    f"{self.name} emulator exited with {self.process.returncode}; "
                    f"see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"{self.name} emulator did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def restart(self, import_data: Path | None = None, timeout: float = 60.0) -> Emulator:
        """Stop the process group and start again on the same port, waiting until it answers.
        For Firestore, `import_data` (an export's `.overall_export_metadata` file) is loaded
        at start-up; None starts it empty. Clients reconnect by themselves (gRPC does).

        Call it from a thread that outlives the emulator: like `spawn`, the new process dies
        with the thread that started it."""
        if import_data is not None and self.name != "firestore":
            raise EmulatorError(f"only the Firestore emulator imports data, not {self.name}")
        command = _with_import(self.command, import_data) if self.name == "firestore" else None
        self.stop()
        self.command = command or self.command
        _wait_port_free(self.port, timeout=15.0)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- restarted (import: {import_data or 'none'}) ---\n".encode())
        return self.spawn(append_log=True).wait_ready(timeout)


def _with_import(command: list[str], import_data: Path | None) -> list[str]:
    kept = [arg for arg in command if not arg.startswith("--import-data=")]
    if import_data is None:
        return kept
    path = Path(import_data).resolve()
    if not path.is_file():
        raise EmulatorError(f"no export metadata file at {path}")
    return [*kept, f"--import-data={path}"]


def _wait_port_free(port: int, timeout: float) -> None:
    """A stopped server's port can take a moment to become bindable again."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((LOCALHOST, port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise EmulatorError(f"port {port} still busy after {timeout:.0f}s") from None
        time.sleep(0.1)


def firestore(
    port: int = 0, log_dir: Path | None = None, import_data: Path | None = None
) -> Emulator:
    """The Firestore emulator; with `import_data` (an export's `.overall_export_metadata`
    file) it starts with that export loaded."""
    port = port or free_port()
    command = [
        "java",
        "-cp",
        str(FIRESTORE_JAR),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start",
        f"--host={LOCALHOST}",
        f"--port={port}",
    ]
    return Emulator(
        "firestore",
        _with_import(command, import_data),
        port,
        (log_dir or Path(tempfile.gettempdir())) / f"firestore-{port}.log",
    )


def pubsub(port: int = 0, log_dir: Path | None = None) -> Emulator:
    port = port or free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="pubsub-emulator-"))
    return Emulator(
        "pubsub",
        [
            str(PUBSUB_SCRIPT),
            f"--host={LOCALHOST}",
            f"--port={port}",
            f"--data-dir={data_dir}",
        ],
        port,
        (log_dir or Path(tempfile.gettempdir())) / f"pubsub-{port}.log",
    )


def reset_firestore(host: str, project: str) -> None:
    """Delete every document in the emulator's default database."""
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents",
        method="DELETE",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise EmulatorError(f"firestore reset answered {response.status}")


def export_firestore(host: str, project: str, directory: Path) -> Path:
    """Export the emulator's default database into `directory` (created if missing) in the
    managed export's format, and return the export's `.overall_export_metadata` file: what
    `--import-data` (and `restart(import_data=...)`) takes."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("firestore_export_*"))
    body = {
        "database": f"projects/{project}/databases/(default)",
        "export_directory": str(directory),
    }
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{project}:export",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status != 200:
            raise EmulatorError(f"firestore export answered {response.status}")
    made = sorted(set(directory.glob("firestore_export_*")) - before)
    if len(made) != 1:
        raise EmulatorError(f"firestore export: expected one new export in {directory}")
    metadata = made[0] / f"{made[0].name}.overall_export_metadata"
    if not metadata.is_file():
        raise EmulatorError(f"firestore export wrote no metadata file: {metadata}")
    return metadata
