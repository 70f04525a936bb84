"""Device names the stages take (`--device`): `auto`, `cpu`, `cuda` or `cuda:N`.

    device_problem("cuda:3")    # "'cuda:3': this machine has 1 visible CUDA device(s)" or None
    resolve_device("auto")      # "cuda" where a GPU is visible, else "cpu"

torch is imported only to look at CUDA, so that checking `auto` or `cpu` stays torch-free.
"""

from __future__ import annotations

import re

DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")


def device_problem(device: str) -> str | None:
    """Why `device` cannot be used on this machine (not a device name, or a CUDA index
    beyond the visible devices); None when it can."""
    if not DEVICE_RE.fullmatch(str(device)):
        return f"{device!r}: expected auto, cpu, cuda or cuda:N"
    if str(device).startswith("cuda"):
        import torch

        index = int(str(device).partition(":")[2] or 0)
        visible = torch.cuda.device_count()
        if index >= visible:
            return f"{device!r}: this machine has {visible} visible CUDA device(s)"
    return None


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; any other name as given."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
