"""Loading a registered student in a fresh Python process, as a consumer of the registry
would: `load_champion` + plain `from_pretrained`, and the pyfunc by alias URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOAD_SCRIPT = """
import json, sys
import numpy as np, mlflow, transformers
from geovr.registry import alias_uri, load_champion
model_name, alias = sys.argv[1], sys.argv[2]
loaded = load_champion(model_name, alias=alias)
hf = transformers.AutoModelForImageTextToText.from_pretrained(loaded.checkpoint_dir)
pyfunc = mlflow.pyfunc.load_model(alias_uri(model_name, alias))
frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
answers = pyfunc.predict([{"question": "How many chairs?"},
                          {"question": "Which is closer?", "frames": frames}],
                         params={"max_new_tokens": 3})
print(json.dumps({"version": loaded.version, "architecture": type(hf).__name__,
                  "files": sorted(p.name for p in loaded.checkpoint_dir.iterdir()),
                  "answers": answers}))
"""


def load_in_fresh_process(
    tracking_uri: str, model_name: str, alias: str = "champion", env: dict[str, str] | None = None
) -> dict:
    """Load `models:/<model>@<alias>` in a new Python process; its JSON report."""
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, model_name, alias],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {}), "MLFLOW_TRACKING_URI": tracking_uri},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
