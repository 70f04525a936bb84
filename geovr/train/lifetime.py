"""Processes of a training job live and stop together: `geovr train` forwards SIGTERM/SIGINT
to its torchrun agent and waits for it; the agent and its workers die with their parent
(Linux PR_SET_PDEATHSIG), so a killed launcher leaves no worker training on as an orphan.
Torch-free: the launcher imports it. The exit codes of `geovr train` are EXIT_CODES_HELP.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

from geovr.errors import GeoVRError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_INPUT = 2  # an input was refused before training started
EXIT_FAILED = 3  # a worker failed (its error is above); --resume continues from the last checkpoint
EXIT_DIVERGED = 4  # the loss or the gradient became NaN/inf; nothing was saved after it
EXIT_CODES_HELP = (
    "Exit codes: 0 done; 2 an input refused, nothing started; 3 a worker failed; "
    "4 the loss became NaN/inf (nothing saved after it); 128+N stopped by signal N "
    "(130 SIGINT, 143 SIGTERM; workers stopped, resume with --resume)."
)


def die_with_parent(sig: int) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits; exit now if the
    parent is already gone (it may have died before this call)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() == 1:
        os._exit(128 + sig)


class Stopped(Exception):
    """The job was stopped by a signal, forwarded to the agent and waited for."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def forwarding_signals(proc: subprocess.Popen) -> Iterator[list[int]]:
    """While in the block, SIGTERM and SIGINT are passed on to `proc` (the list collects
    them); the caller still waits for `proc` to exit."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # only the main thread may set handlers; the caller's own stay
        return

    def forward(signum, frame) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Diverged(GeoVRError):
    """The loss or gradient norm is not finite: stop before the weights are saved."""

    exit_code = EXIT_DIVERGED
