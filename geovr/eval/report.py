"""A self-contained HTML evaluation report: one file, pictures embedded as base64 PNG, no
external URL (the KFP UI and MLflow both show it as is).

    from geovr.eval.report import ReportExample, build_report
    build_report(metrics, [ReportExample("clip-0", frames, d_pred, d_gt, pose_pred, pose_gt)],
                 "runs/eval/report.html")

`metrics` is the metrics.json tree: `{"vsi": score_predictions(...) output, "probes":
{name: value}, ...}`; the other top-level scalars (eval_set, n_questions, ...) are listed as
run information. Each example shows sampled frames with target / predicted depth and the
AbsRel error map, and the top-down (x-z) camera trajectories, predicted vs target.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from geovr.artifacts import atomic_write_text
from geovr.data.vsi_tasks import NUMERIC_TASKS, TASKS
from geovr.eval import geometry
from geovr.eval.vsi import task_question_count
from geovr.geometry.pose import relative_to_first

TARGET_COLOUR, PRED_COLOUR = "#2b6cb0", "#dd6b20"
NUMERIC_COLOUR, CHOICE_COLOUR = "#3182ce", "#38a169"
# Headline numbers when present, in this order: (key under "probes", label, format).
HEADLINE_PROBES = (
    ("depth_absrel", "Depth AbsRel", "{:.3f}"),
    ("depth_delta1", "Depth δ1", "{:.3f}"),
    ("pose_auc30", "Pose AUC@30", "{:.3f}"),
    ("scale_rel_err", "Scale rel. error", "{:.3f}"),
)


@dataclass(frozen=True)
class ReportExample:
    """One clip to picture.

    Frames `[T,H,W,3]` uint8, depth `[T,H,W]`, poses `[T,9]` or `[T,3,4]`.
    """

    name: str
    frames: np.ndarray
    depth_pred: np.ndarray
    depth_target: np.ndarray
    pose_pred: np.ndarray
    pose_target: np.ndarray


def _png(fig: Figure) -> str:
    """The figure as a base64 PNG data URI (Agg canvas: no display, no global pyplot state)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No "Software" text chunk: the file then names no URL, even inside the image.
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def task_chart(vsi: Mapping[str, Any]) -> str:
    """Horizontal bars of the per-task VSI scores (percent), overall as a dashed line; each
    label says how many questions its score rests on (a 100 from one question is noise)."""
    per_task = vsi["per_task"]
    tasks = [task for task in TASKS if task in per_task][::-1]  # top-down in table order
    counts = vsi.get("counts", {})
    labels = [
        f"{task} (n={task_question_count(counts, task)})" if counts else task for task in tasks
    ]
    fig = Figure(figsize=(8.5, 0.42 * len(tasks) + 1.1), layout="constrained")
    ax = fig.add_subplot()
    colours = [NUMERIC_COLOUR if task in NUMERIC_TASKS else CHOICE_COLOUR for task in tasks]
    bars = ax.barh(labels, [per_task[task] for task in tasks], color=colours, height=0.65)
    # White boxes keep the numbers readable where the overall line crosses them.
    ax.bar_label(
        bars,
        fmt="%.1f",
        padding=3,
        fontsize=9,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
    )
    ax.axvline(vsi["overall"], color="#4a5568", linestyle="--", linewidth=1, zorder=0)
    ax.text(
        vsi["overall"],
        len(tasks) - 0.4,
        f" overall {vsi['overall']:.1f}",
        fontsize=9,
        color="#4a5568",
        va="bottom",
    )
    ax.set_xlim(0, 108)
    ax.set_xlabel("score (%): MRA for numeric tasks (blue), accuracy for multiple choice (green)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", labelsize=9)
    return _png(fig)


def _frame_rows(n_frames: int, max_rows: int) -> list[int]:
    return sorted(set(np.linspace(0, n_frames - 1, min(max_rows, n_frames)).round().astype(int)))


def depth_figure(example: ReportExample, max_rows: int = 4) -> str:
    """Rows of sampled frames: image | target depth | predicted depth (median-aligned) | AbsRel."""
    target = np.asarray(example.depth_target, np.float64)
    valid = np.isfinite(target) & (target > 0)
    pred = np.asarray(example.depth_pred, np.float64)
    # Same alignment as the metric, so that colours compare like for like.
    pred = pred * geometry.align_scale(pred[valid], target[valid])
    low, high = np.percentile(target[valid], [2, 98]) if valid.any() else (0.0, 1.0)
    error = np.where(valid, np.abs(pred - target) / np.where(valid, target, 1.0), np.nan)
    rows = _frame_rows(len(target), max_rows)
    height, width = target.shape[1:]
    fig = Figure(figsize=(6.6, 6.6 / 4 * height / width * len(rows) + 0.9), layout="constrained")
    axes = fig.subplots(len(rows), 4, squeeze=False)
    titles = ("frame", "target depth", "predicted (aligned)", "AbsRel error")
    # Pixels without target depth in grey, apart from both ends of the colour scales.
    depth_cmap = matplotlib.colormaps["viridis_r"].with_extremes(bad="#cbd5e0")
    error_cmap = matplotlib.colormaps["magma"].with_extremes(bad="#cbd5e0")
    for r, t in enumerate(rows):
        axes[r, 0].imshow(example.frames[t])
        depth_image = axes[r, 1].imshow(
            np.where(valid[t], target[t], np.nan),
            cmap=depth_cmap,
            vmin=low,
            vmax=high,
            interpolation="nearest",
        )
        axes[r, 2].imshow(pred[t], cmap=depth_cmap, vmin=low, vmax=high, interpolation="nearest")
        error_image = axes[r, 3].imshow(
            error[t], cmap=error_cmap, vmin=0, vmax=0.5, interpolation="nearest"
        )
        axes[r, 0].set_ylabel(f"frame {t}", fontsize=9)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    for image, cols, label in (
        (depth_image, axes[-1, 1:3], "depth"),
        (error_image, axes[-1, 3], r"$|\hat d - d|\,/\,d$"),
    ):
        bar = fig.colorbar(image, ax=cols, orientation="horizontal", shrink=0.8, aspect=15)
        bar.set_label(label, fontsize=9)
        bar.ax.tick_params(labelsize=8)
    return _png(fig)


def _centres(poses: np.ndarray) -> np.ndarray:
    """Camera centres in the first camera's frame, whatever frame the poses came in."""
    return geometry.camera_centres(relative_to_first(geometry.to_extrinsics(poses)))


def trajectory_figure(example: ReportExample) -> str:
    """Top-down view (x right, z forward of the first camera) of both camera paths."""
    fig = Figure(figsize=(4.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    paths = {"target": _centres(example.pose_target), "predicted": _centres(example.pose_pred)}
    for (label, centres), colour in zip(paths.items(), (TARGET_COLOUR, PRED_COLOUR), strict=True):
        ax.plot(
            centres[:, 0],
            centres[:, 2],
            "-o",
            color=colour,
            markersize=3,
            linewidth=1.5,
            label=label,
        )
        ax.plot(centres[-1, 0], centres[-1, 2], "s", color=colour, markersize=6)
    ax.plot(0, 0, "k^", markersize=8, label="first camera")
    # A still camera (or one frame) gets fixed limits, not an axis scaled to rounding noise.
    still = np.ptp(np.concatenate(list(paths.values()))[:, [0, 2]]) < 1e-6
    ax.set_aspect("equal", adjustable="box" if still else "datalim")
    if still:
        ax.set(xlim=(-1, 1), ylim=(-1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("z (forward)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("camera centres, top-down (■ = last)", fontsize=10)
    return _png(fig)


def _example_metrics(example: ReportExample) -> dict[str, float]:
    metrics = geometry.depth_metrics(example.depth_pred, example.depth_target)
    if len(example.pose_target) >= 2:
        metrics |= geometry.pose_metrics(example.pose_pred, example.pose_target)
    return {key: value for key, value in metrics.items() if key != "depth_scale"}


def _scalars(tree: Mapping[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    """Top-level scalar entries (run information), except the sections shown elsewhere."""
    return {k: v for k, v in tree.items() if k not in skip and not isinstance(v, Mapping | list)}


def _benchmark_label(metrics: Mapping[str, Any]) -> str:
    """ "VSI-Bench-Debiased" when the questions come from that table, else "VSI-Bench"."""
    return "VSI-Bench-Debiased" if "debiased" in str(metrics.get("benchmark", "")) else "VSI-Bench"


def _headline(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    cards = []
    label = _benchmark_label(metrics)
    if "vsi" in metrics:
        cards.append((f"{label} overall", f"{metrics['vsi']['overall']:.1f}"))
    if "vsi_debiased" in metrics:
        cards.append(("VSI-Bench-Debiased overall", f"{metrics['vsi_debiased']['overall']:.1f}"))
    if "vsi_blind" in metrics:
        cards.append((f"{label}, vision disabled", f"{metrics['vsi_blind']['overall']:.1f}"))
    leakage = metrics.get("leakage", {})
    if leakage.get("overlapping_clips", 0) > 0:
        cards.append(("Clips seen in training", str(leakage["overlapping_clips"])))
    probes = metrics.get("probes", {})
    cards += [
        (label, fmt.format(probes[key])) for key, label, fmt in HEADLINE_PROBES if key in probes
    ]
    return cards


def build_report(
    metrics: Mapping[str, Any],
    examples: Sequence[ReportExample],
    out_path: str | Path,
    title: str = "GeoVR evaluation",
) -> Path:
    """Write the HTML report to out_path (atomically) and return the path."""
    vsi = metrics.get("vsi")
    context = {
        "title": title,
        "headline": _headline(metrics),
        "benchmark": _benchmark_label(metrics),
        "vsi": vsi,
        "blind": metrics.get("vsi_blind"),
        "debiased": metrics.get("vsi_debiased"),
        "references": metrics.get("probe_references", {}),
        "leakage": metrics.get("leakage"),
        "no_heads": metrics.get("heads") is False,
        "tasks": [task for task in TASKS if vsi and task in vsi["per_task"]],
        "chart": task_chart(vsi) if vsi and vsi.get("per_task") else None,
        "probes": metrics.get("probes", {}),
        "run": _scalars(metrics, ("vsi", "vsi_blind", "vsi_debiased", "probes")),
        "task_count": task_question_count,
        "examples": [
            {
                "name": ex.name,
                "depth": depth_figure(ex),
                "trajectory": trajectory_figure(ex),
                "metrics": _example_metrics(ex),
            }
            for ex in examples
        ],
    }
    html = _TEMPLATE.render(**context)
    atomic_write_text(out_path, html)
    return Path(out_path)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# Inline, not a package-data file: the template then ships with the module whatever the install.
# Lines are split after block tags (trim_blocks drops that newline), before `{{-` / `{%-`
# (which strip it) or where HTML reads a newline as a space.
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1a202c; background: #f7fafc; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 16px; }
h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid #e2e8f0; padding-bottom: 6px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 16px;
        min-width: 140px; }
.card .label { font-size: 12px; color: #718096; letter-spacing: .02em; }
.card .value { font-size: 24px; font-weight: 600; }
table { border-collapse: collapse; background: #fff; font-size: 14px; margin: 8px 0; }
th, td { border: 1px solid #e2e8f0; padding: 5px 12px; text-align: left; }
th { background: #edf2f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; background: #fff; border: 1px solid #e2e8f0; border-radius: 6px; }
.example { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.muted { color: #718096; font-size: 13px; }
.tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
</style></head>
<body><main>
<h1>{{ title }}</h1>
{% if headline %}<div class="cards">
{% for label, value in headline %}
<div class="card"><div class="label">{{ label }}</div><div class="value">{{ value }}</div></div>
{% endfor %}</div>{% endif %}
{% if vsi %}
<h2>{{ benchmark }}</h2>
{% if chart %}<img src="{{ chart }}" alt="VSI-Bench per-task scores">{% endif %}
<div class="tables">
<table><tr><th>task</th><th>score (%)</th>{% if debiased %}
<th>VSI-Bench-Debiased (%)</th>{% endif %}
{% if blind %}
<th>{{ benchmark }}, vision disabled (%)</th>{% endif %}
<th>questions</th></tr>
{% for task in tasks %}
<tr><td>{{ task }}</td><td class="num">{{ "%.1f"|format(vsi.per_task[task]) }}</td>{% if debiased %}
<td class="num">{{ "%.1f"|format(debiased.per_task.get(task, 0)) }}</td>{% endif %}
{% if blind %}
<td class="num">{{ "%.1f"|format(blind.per_task.get(task, 0)) }}</td>{% endif %}
<td class="num">{{ task_count(vsi.counts, task) }}</td></tr>
{% endfor %}
<tr><th>overall (unweighted mean)</th><th class="num">{{ "%.1f"|format(vsi.overall) }}</th>
{%- if debiased %}
<th class="num">{{ "%.1f"|format(debiased.overall) }}</th>{% endif %}
{% if blind %}
<th class="num">{{ "%.1f"|format(blind.overall) }}</th>{% endif %}
<th class="num">{{ vsi.counts.total }}</th></tr>
</table>
{% if vsi.rel_direction_levels %}
<table><tr><th>object_rel_direction level</th><th>accuracy (%)</th></tr>
{% for level, value in vsi.rel_direction_levels.items() %}
<tr><td>{{ level }}</td><td class="num">{{ "%.1f"|format(value) }}</td></tr>
{% endfor %}</table>{% endif %}
</div>
{% endif %}
{% if leakage and leakage.overlapping_clips > 0 %}
<p><strong>
{{- leakage.overlapping_clips }} evaluated clips were in the checkpoint's training data</strong>
{{- " " }}({{ leakage.overlap|join(", ") }}).</p>{% endif %}
{% if probes or run %}
<h2>Geometry probes</h2>
{% if no_heads %}
<p class="muted">Probes absent: the checkpoint has no trained GeoVR heads
(a base model or an SFT baseline).</p>{% endif %}
{% if references %}
<p class="muted">Reference per probe: {% for part, counts in references.items() %}
{{ part }} {% for name, n in counts.items() %}
{{ name|replace("_", " ") }} ({{ n }} clips){% if not loop.last %}, {% endif %}{% endfor %}
{% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}
<div class="tables">
{% if probes %}<table><tr><th>probe metric</th><th>value</th></tr>
{% for key, value in probes.items() %}
<tr><td>{{ key }}</td><td class="num">{{ value|num }}</td></tr>
{% endfor %}</table>{% endif %}
{% if run %}<table><tr><th>run</th><th></th></tr>
{% for key, value in run.items() %}<tr><td>{{ key }}</td><td>{{ value|num }}</td></tr>
{% endfor %}</table>{% endif %}
</div>
{% endif %}
{% if examples %}
<h2>Examples</h2>
<p class="muted">Predicted depth is scaled by one median factor per clip, as in the metric.
Camera paths are drawn in each path's own first-camera frame, seen from above.</p>
{% for ex in examples %}
<h3>{{ ex.name }}</h3>
<p class="muted">{% for key, value in ex.metrics.items() %}
{{ key }} {{ value|num }}{% if not loop.last %} &middot; {% endif %}{% endfor %}</p>
<div class="example"><img src="{{ ex.depth }}" alt="depth maps of {{ ex.name }}"
  style="max-width: 700px">
<img src="{{ ex.trajectory }}" alt="camera trajectories of {{ ex.name }}"
  style="max-width: 380px"></div>
{% endfor %}
{% endif %}
</main></body></html>
"""
_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["num"] = _number
_TEMPLATE = _ENV.from_string(_PAGE)
