"""The representation probes of the evidence benchmark (issue 22, item 2): each trained student
probed once (kept beside its run), and GeoVR minus SFT held-out R^2 paired by seed and clip.

    found = kept_probes(runs_dir / "geovr-seed0", setup, checkpoint, clips)
    summary = probe_summary({"base": [...], "sft": [...], "geovr": [...]})   # per seed
    summary["geovr_minus_sft"]["2"]["depth"]   # {"delta", "ci95", "excludes_zero"}
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from geovr.eval import linear_probes as lp
from geovr.eval.representations import TARGETS, probe_representations

BOOTSTRAP_REPLICATES = 2000


def kept_probes(where: Path, setup: dict, checkpoint: str, clips: Path) -> dict:
    """probe_representations of a kept run's checkpoint, cached in where/representations.json
    for the same setup (the probes are fitted on the train scenes, scored on val + test)."""
    done = where / "representations.json"
    if done.is_file() and json.loads(done.read_text())["setup"] == setup:
        return json.loads(done.read_text())["found"]
    found = probe_representations(checkpoint, clips)
    done.write_text(json.dumps({"setup": setup, "found": found}))
    return found


def paired_r2_bootstrap(
    sft: list[np.ndarray],
    geovr: list[np.ndarray],
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> dict:
    """sft / geovr: per seed the per-clip R^2 sums (lp.r2_sums) of the same held-out clips.
    The statistic is the mean over seeds of R^2(GeoVR) - R^2(SFT); each replicate resamples
    the seeds and, within each drawn seed, the clips (the same clips for both variants)."""
    rng = np.random.default_rng(seed)

    def delta(s: int, clips: np.ndarray) -> float:
        return lp.r2_from_sums(geovr[s][clips]) - lp.r2_from_sums(sft[s][clips])

    n = len(sft)
    point = float(np.mean([delta(s, np.arange(len(sft[s]))) for s in range(n)]))
    draws = [
        np.mean(
            [delta(s, rng.integers(0, len(sft[s]), len(sft[s]))) for s in rng.integers(0, n, n)]
        )
        for _ in range(replicates)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return {
        "delta": point,
        "ci95": [float(low), float(high)],
        "excludes_zero": bool(low > 0 or high < 0),
    }


def probe_summary(found: dict[str, list[dict]]) -> dict:
    """Per variant, layer and target the held-out R^2 of each seed and their mean; GeoVR minus
    SFT paired by seed and clip with bootstrap 95% intervals."""
    first = found["sft"][0]
    layers = [str(x) for x in first["layers"]]
    r2 = {
        variant: {
            layer: {
                t: {
                    "seeds": [f["r2"][layer][t] for f in runs],
                    "mean": statistics.fmean(f["r2"][layer][t] for f in runs),
                }
                for t in TARGETS
            }
            for layer in layers
        }
        for variant, runs in found.items()
    }
    deltas = {
        layer: {
            t: paired_r2_bootstrap(
                [np.asarray(f["sums"][layer][t]) for f in found["sft"]],
                [np.asarray(f["sums"][layer][t]) for f in found["geovr"]],
            )
            for t in TARGETS
        }
        for layer in layers
    }
    return {
        "layers": first["layers"],
        "supervised": first["supervised"],
        "clips": first["clips"],
        "r2": r2,
        "geovr_minus_sft": deltas,
    }
