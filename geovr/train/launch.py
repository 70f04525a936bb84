"""Start a torchrun job of :mod:`geovr.train.worker` from Python and return its summary.

Usage (any worker flag can be appended to the argument list)::

    from geovr.train.launch import launch
    summary = launch(
        2, ["--task", "tests.train.tiny_task:TinyTask", "--out", "runs/t", "--steps", "5"]
    )
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from geovr.train.lifetime import Stopped, forwarding_signals
from geovr.train.outputs import SUMMARY_NAME


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """The argv that runs ``nproc`` workers on this host with ``args``."""
    return [
        sys.executable,
        "-m",
        "geovr.train.agent",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "geovr.train.worker",
        *args,
    ]


def _out_dir(args: list[str]) -> Path:
    for i, arg in enumerate(args):
        if arg == "--out":
            return Path(args[i + 1])
        if arg.startswith("--out="):
            return Path(arg.split("=", 1)[1])
    raise ValueError("args must contain --out DIR")


def launch(
    nproc: int, args: list[str], timeout: float | None = None, **popen_kwargs
) -> dict[str, Any]:
    """Run the job to completion; return ``summary.json``. Raise CalledProcessError on failure,
    and Stopped once the agent has exited after a forwarded SIGTERM/SIGINT."""
    out_dir = _out_dir(args)
    command = torchrun_command(nproc, args)
    # its own session: a Ctrl-C in the terminal reaches the agent once, through the forwarding
    popen_kwargs.setdefault("start_new_session", True)
    with subprocess.Popen(command, **popen_kwargs) as proc, forwarding_signals(proc) as received:
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
            raise
    if received:
        raise Stopped(received[0])
    if code:
        raise subprocess.CalledProcessError(code, command)
    return json.loads((out_dir / SUMMARY_NAME).read_text())
