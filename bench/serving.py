"""``upcast serve`` run by a benchmark as a user runs it: its own process tree."""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.report import step

START_TIMEOUT = 300.0
RUNNING = re.compile(r"Upcast is running at (http://\S+)")
STOP_TIMEOUT = 300.0


KEY_FILE = "bench-api-key"
"""Where the benchmark keeps the owner's API key, in the data folder."""


def owner_key(data_dir: Path) -> str:
    """An API key of every scope for the store in ``data_dir``.

    The first time, ``upcast users create-owner`` makes an owner with a
    random password and the key, which is kept in the folder (readable by
    its owner only) for a later ``upcast serve`` on the same store.
    """
    kept = data_dir / KEY_FILE
    if kept.exists():
        return kept.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "sdk.cli",
            "users",
            "create-owner",
            "bench",
            "--password-stdin",
            "--api-key",
            "bench",
            "--data-dir",
            str(data_dir),
        ],
        input=secrets.token_urlsafe(24) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    keys = [word for word in made.stdout.split() if word.startswith("upk_")]
    if made.returncode != 0 or not keys:
        raise RuntimeError(f"making the benchmark's owner failed: {made.stderr}")
    kept.write_text(keys[0])
    kept.chmod(0o600)
    return keys[0]


class ServeProcess:
    """``upcast serve`` in a child process, on a free port and a given data folder.

    The gateway picks its own port (``--port 0``) and says which when it
    serves, so no other process can take the port in between. What it
    prints is read the whole time it runs, so its pipe never fills; lines
    saying how far the shards are in loading a stored fleet are echoed as
    the benchmark's progress. What it says on stderr goes to a file in the
    data folder, quoted when it fails to start.
    """

    def __init__(
        self, data_dir: Path, shards: int, extra: list[str] | None = None
    ) -> None:
        self.url = ""
        """The gateway's address, known once ``wait_until_serving`` returns."""
        self.api_key = owner_key(data_dir)
        self._errors = data_dir / "serve-stderr.log"
        self._error_file = self._errors.open("w")
        self.lines: list[str] = []
        self.began = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdk.cli",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                "--shards",
                str(shards),
                *(extra or []),
            ],
            stdout=subprocess.PIPE,
            stderr=self._error_file,
            text=True,
        )

    def wait_until_serving(self) -> float:
        """Block until the gateway prints its URL; returns seconds since start."""
        stdout = self.process.stdout
        assert stdout is not None
        while time.monotonic() - self.began < START_TIMEOUT:
            line = stdout.readline()
            if not line:
                said = self._errors.read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"upcast serve exited with status {self.process.wait()}: {said}"
                )
            self.lines.append(line.rstrip())
            if "loading monitors" in line:
                step(line.strip().removeprefix("-- "))
            found = RUNNING.search(line)
            if found:
                self.url = found[1]
                threading.Thread(target=self._drain, daemon=True).start()
                return time.monotonic() - self.began
        raise RuntimeError(f"upcast serve did not start within {START_TIMEOUT:g}s")

    def _drain(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            self.lines.append(line.rstrip())

    def stop(self) -> float:
        """Stop as Ctrl-C does (pending results are written); seconds it took.

        SIGINT even when a benchmark failed midway: killing the command
        outright would leave Ray's processes behind.
        """
        began = time.monotonic()
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    raise RuntimeError("upcast serve did not stop in time") from None
        finally:
            self._error_file.close()
        return time.monotonic() - began
