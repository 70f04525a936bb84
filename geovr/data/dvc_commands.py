"""DVC and git as subprocesses: each call has a timeout, a failure reports the command and the
tail of its stderr, and remote calls are retried with exponential backoff only when the error
looks like the network (data that is simply missing is never retried).

    from geovr.data.dvc_commands import dvc_cmd, run_command, run_remote
    run_remote(dvc_cmd("pull", "data.dvc"), cwd=repo)
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from geovr.errors import GeoVRError

log = logging.getLogger(__name__)

LOCAL_TIMEOUT = 600.0  # s; git, `dvc add`, the generator
REMOTE_TIMEOUT = 3600.0  # s; one attempt of a pull, push or get
RETRY_ATTEMPTS = 3
RETRY_WAIT = 2.0  # s; backoff 2, 4, ... capped at 60
_TRANSIENT = (
    "could not connect",
    "failed to connect",
    "connection",
    "timed out",
    "timeout",
    "temporar",
    "throttl",
    "slow down",
    "slowdown",
    "service unavailable",
    "reset by peer",
    "broken pipe",
    "too many requests",
)


class DataVersionError(GeoVRError):
    """The data cannot be made to match its DVC pointer, or a DVC/git command failed."""


class CommandError(DataVersionError):
    """A subprocess failed; `transient` says whether retrying may help."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def transfer_opts(jobs: int | None, remote: str | None) -> list[str]:
    return [*(["--jobs", str(jobs)] if jobs else []), *(["--remote", remote] if remote else [])]


def _tail(text: str, lines: int = 12) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())


def run_command(
    cmd: Sequence[str], cwd: str | Path | None = None, timeout: float = LOCAL_TIMEOUT
) -> str:
    """Run `cmd`, return its stdout; raise CommandError with the stderr tail on failure."""
    shown = " ".join(map(str, cmd))
    # Analytics would try the network from every DVC call; the config may not say so.
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        proc = subprocess.run(
            [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        # Not retried: the timeout is the caller's budget for the whole operation.
        raise CommandError(f"`{shown}` timed out after {timeout:g} s") from e
    except OSError as e:
        raise CommandError(f"`{shown}` could not start: {e}") from e
    if proc.returncode != 0:
        tail = _tail(proc.stderr) or _tail(proc.stdout) or "(no output)"
        transient = any(marker in tail.lower() for marker in _TRANSIENT)
        raise CommandError(f"`{shown}` failed (exit {proc.returncode}): {tail}", transient)
    return proc.stdout


def run_remote(
    cmd: Sequence[str], cwd: str | Path | None = None, timeout: float = REMOTE_TIMEOUT
) -> str:
    """`run_command` for commands that talk to a remote: transient failures are retried."""
    retrying = Retrying(
        stop=stop_after_attempt(RETRY_ATTEMPTS),
        wait=wait_exponential(multiplier=RETRY_WAIT, max=60),
        retry=retry_if_exception(lambda e: isinstance(e, CommandError) and e.transient),
        before_sleep=lambda state: log.warning("retrying after: %s", state.outcome.exception()),
        reraise=True,
    )
    return retrying(run_command, cmd, cwd, timeout)


def dvc_cmd(*args: Any) -> list[str]:
    """`python -m dvc ...` from this interpreter, so the venv's DVC runs whatever PATH says."""
    return [sys.executable, "-m", "dvc", *map(str, args)]
