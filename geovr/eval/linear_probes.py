"""Linear probes of representations: what a frozen model's hidden states encode, linearly.

    probe = fit_ridge(train_x, train_y)            # standardised features, ridge by inner split
    sums = r2_sums(probe(test_x), test_y, groups)  # per held-out clip, output: n, Σy, Σy², SSE
    r2_from_sums(sums)                             # held-out R^2, pooled over outputs

Targets come from the clip's ground truth: `patch_log_depth` (depth map pooled to the token
grid, in log metres) and `relative_motion` (each consecutive frame pair's translation
direction and rotation angle). R^2 is kept as per-group sums so that a bootstrap can resample
the held-out clips and recompute it exactly (`r2_from_sums` of any subset).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

RIDGE_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
INNER_FRACTION = 0.2  # the train groups held out to choose the ridge strength


def _solve(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """argmin_w |xw - y|^2 + ridge |w|^2 (x already centred), by the normal equations."""
    xt = torch.from_numpy(x).double()
    gram = xt.T @ xt + ridge * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, xt.T @ torch.from_numpy(y).double()).numpy()


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> Callable[[np.ndarray], np.ndarray]:
    mean, std = x.mean(0), x.std(0) + 1e-8
    y_mean = y.mean(0)
    weights = _solve((x - mean) / std, y - y_mean, ridge)
    return lambda new: ((np.asarray(new, np.float64) - mean) / std) @ weights + y_mean


def fit_ridge(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """A ridge regression x [n, d] -> y [n, k] on standardised features. The strength is the
    one of RIDGE_GRID with the best R^2 on INNER_FRACTION of the train `groups` (clips: the
    samples of one clip are not independent), then the probe is refitted on all of them."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64).reshape(len(x), -1)
    groups = np.arange(len(x)) if groups is None else np.asarray(groups)
    names = np.unique(groups)
    rng = np.random.default_rng(seed)
    inner = rng.choice(names, max(1, int(len(names) * INNER_FRACTION)), replace=False)
    held = np.isin(groups, inner)

    def inner_r2(ridge: float) -> float:
        predicted = _fit(x[~held], y[~held], ridge)(x[held])
        return r2_from_sums(r2_sums(predicted, y[held]))

    best = max(RIDGE_GRID, key=inner_r2) if 0 < held.sum() < len(x) else RIDGE_GRID[2]
    return _fit(x, y, best)


def r2_sums(predicted: np.ndarray, target: np.ndarray, groups=None) -> np.ndarray:
    """[groups, outputs, 4]: per group (one when `groups` is None) and output the samples,
    sum y, sum y^2 and squared error, in order of first appearance of each group."""
    predicted = np.asarray(predicted, np.float64).reshape(len(target), -1)
    target = np.asarray(target, np.float64).reshape(len(target), -1)
    groups = np.zeros(len(target), int) if groups is None else np.asarray(groups)
    rows = []
    for name in dict.fromkeys(groups.tolist()):
        y, p = target[groups == name], predicted[groups == name]
        count = np.full(y.shape[1], len(y), np.float64)
        rows.append(np.stack([count, y.sum(0), (y**2).sum(0), ((p - y) ** 2).sum(0)], -1))
    return np.asarray(rows)


def r2_from_sums(sums: np.ndarray) -> float:
    """1 - SSE / SST over any rows of r2_sums (each output around its own mean, then pooled
    over the outputs); 0 when the targets do not vary."""
    n, total, squares, error = np.moveaxis(np.asarray(sums, np.float64).sum(0), -1, 0)
    spread = float((squares - total**2 / np.maximum(n, 1)).sum())
    return 1.0 - float(error.sum()) / spread if spread > 0 else 0.0


def patch_log_depth(depth: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """[F, gh, gw] mean log depth over each token's pixels (pixels without depth, <= 0 or not
    finite, left out; a patch with none gets NaN)."""
    depth = torch.as_tensor(np.asarray(depth, np.float64))[:, None]
    valid = (depth > 0) & torch.isfinite(depth)
    logs = torch.where(valid, depth.clamp(min=1e-6).log(), torch.zeros_like(depth))
    summed = F.adaptive_avg_pool2d(logs, grid)
    share = F.adaptive_avg_pool2d(valid.double(), grid)
    return torch.where(share > 0, summed / share.clamp(min=1e-12), torch.nan)[:, 0].numpy()


def relative_motion(extrinsics: np.ndarray) -> np.ndarray:
    """[F-1, 4] per consecutive frame pair (camera-from-world [F,3,4]): the unit direction of
    the relative translation t = t_j - R t_i with R = R_j R_i^T (zero when the camera did not
    move) and the relative rotation angle in degrees."""
    ext = np.asarray(extrinsics, np.float64)[:, :3, :]
    rot = ext[1:, :, :3] @ np.swapaxes(ext[:-1, :, :3], -1, -2)
    t = ext[1:, :, 3] - np.einsum("pab,pb->pa", rot, ext[:-1, :, 3])
    norm = np.linalg.norm(t, axis=-1, keepdims=True)
    direction = np.where(norm > 1e-9, t / np.maximum(norm, 1e-12), 0.0)
    cos = np.clip((np.trace(rot, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    return np.concatenate([direction, np.degrees(np.arccos(cos))[:, None]], axis=-1)
