"""The promotion gate: may a newly registered version (the challenger) replace the champion?

A pure function of the two versions' metrics and a typed policy, so it is tested without
MLflow (`tests/registry/test_gate.py`, including a Hypothesis property test):

    from geovr.registry.gate import Candidate, GatePolicy, decide
    decision = decide(Candidate("2", "evalset-a", {"vsi.overall": 41.0}),
                      Candidate("1", "evalset-a", {"vsi.overall": 40.0}), GatePolicy(margin=0.5))
    decision.promote, decision.reasons

Rules, all of which must pass:
- the challenger has the primary metric and it reaches the absolute floor;
- with a champion: both were evaluated on the same evaluation set (never compared across
  sets), the primary metric beats the champion's by more than `margin`, and no guarded metric
  regresses by more than its tolerance (direction-aware).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from geovr.errors import GeoVRError


@dataclass(frozen=True)
class MetricRule:
    """A metric the gate looks at. `tolerance` is in the metric's own units."""

    key: str
    higher_is_better: bool
    tolerance: float = 0.0

    def gain(self, new: float, old: float) -> float:
        """How much better `new` is than `old` (negative: worse), whatever the direction."""
        return new - old if self.higher_is_better else old - new


# Geometry probes (docs/contracts.md section 5): depth AbsRel and scale error fall, delta1
# and pose AUC rise.
DEFAULT_GUARDS = (
    MetricRule("probes.depth_absrel", higher_is_better=False, tolerance=0.01),
    MetricRule("probes.depth_delta1", higher_is_better=True, tolerance=0.01),
    MetricRule("probes.pose_auc30", higher_is_better=True, tolerance=0.01),
    MetricRule("probes.scale_rel_err", higher_is_better=False, tolerance=0.01),
)


@dataclass(frozen=True)
class GatePolicy:
    """When a challenger becomes champion. Load from JSON with `GatePolicy.load`."""

    primary: MetricRule = MetricRule("vsi.overall", higher_is_better=True)
    margin: float = 0.0  # the primary metric must beat the champion by more than this
    floor: float = 0.0  # and reach this (a first version needs only this)
    guarded: tuple[MetricRule, ...] = field(default=DEFAULT_GUARDS)

    def __post_init__(self) -> None:
        numbers = {"margin": self.margin, "floor": self.floor}
        numbers |= {f"tolerance of {r.key}": r.tolerance for r in self.guarded}
        for name, value in numbers.items():
            if not math.isfinite(value):
                raise GeoVRError(f"gate policy: {name} must be a finite number, not {value}")
        negative = [name for name, value in numbers.items() if name != "floor" and value < 0]
        if negative:
            raise GeoVRError(f"gate policy: {', '.join(negative)} must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GatePolicy:
        """Build from a (possibly partial) dict; missing fields keep their defaults."""
        unknown = set(data) - {"primary", "margin", "floor", "guarded"}
        if unknown:
            raise GeoVRError(f"gate policy: unknown fields {sorted(unknown)}")
        try:
            kwargs: dict[str, Any] = {k: float(data[k]) for k in ("margin", "floor") if k in data}
            if "primary" in data:
                kwargs["primary"] = MetricRule(**data["primary"])
            if "guarded" in data:
                kwargs["guarded"] = tuple(MetricRule(**rule) for rule in data["guarded"])
        except (TypeError, ValueError) as e:
            raise GeoVRError(f"gate policy: {e}") from e
        return cls(**kwargs)

    @classmethod
    def load(cls, source: str | Path | None, **overrides: float | None) -> GatePolicy:
        """A policy from inline JSON, a JSON file, or the defaults (empty/None), with
        `margin`/`floor` overrides (None: keep)."""
        text = str(source or "").strip()
        if text and not text.startswith("{"):
            try:
                text = Path(text).read_text()
            except OSError as e:
                raise GeoVRError(f"gate policy file {source}: {e}") from e
        try:
            policy = cls.from_dict(json.loads(text)) if text else cls()
        except json.JSONDecodeError as e:
            raise GeoVRError(f"gate policy {source} is not valid JSON: {e}") from e
        return replace(policy, **{k: float(v) for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Candidate:
    """What the gate knows of a model version."""

    version: str | None
    eval_set: str | None
    metrics: Mapping[str, float]

    def get(self, key: str) -> float | None:
        value = self.metrics.get(key)
        return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and every check behind it, in order."""

    promote: bool
    reasons: tuple[str, ...]
    champion_version: str | None

    @property
    def label(self) -> str:
        return "promote" if self.promote else "reject"


def _floor_check(value: float, policy: GatePolicy) -> tuple[bool, str]:
    rule = policy.primary
    ok = rule.gain(value, policy.floor) >= 0
    word = "reaches" if ok else "misses"
    return ok, f"{rule.key} {value:.6g} {word} floor {policy.floor:.6g}"


def _primary_check(new: float, old: float, policy: GatePolicy) -> tuple[bool, str]:
    rule = policy.primary
    gain = rule.gain(new, old)
    ok = gain > policy.margin
    verdict = "beats" if ok else "does not beat"
    return ok, (
        f"{rule.key} {new:.6g} {verdict} champion {old:.6g} by more than margin "
        f"{policy.margin:.6g} (gain {gain:+.6g})"
    )


def _guard_check(rule: MetricRule, challenger: Candidate, champion: Candidate) -> tuple[bool, str]:
    old, new = champion.get(rule.key), challenger.get(rule.key)
    if old is None:
        return True, f"{rule.key}: champion has no value, not compared"
    if new is None:
        return False, f"{rule.key}: missing from the challenger"
    regression = -rule.gain(new, old)
    ok = regression <= rule.tolerance
    change = f"worse by {regression:.6g}" if regression > 0 else "not worse"
    word = "within" if ok else "beyond"
    return ok, (
        f"{rule.key} {new:.6g} vs champion {old:.6g}: {change}, {word} tolerance "
        f"{rule.tolerance:.6g}"
    )


LEAKAGE_KEY = "leakage.overlapping_clips"  # geovr evaluate: -1 when the checkpoint names none


def _leakage_check(challenger: Candidate) -> tuple[bool, str]:
    """A score on clips the model was trained on measures memory, not the benchmark."""
    overlap = challenger.metrics.get(LEAKAGE_KEY)
    if overlap is None or overlap < 0:
        return True, "training clips not recorded by the checkpoint: leakage not checked"
    if overlap > 0:
        return False, f"evaluated on {overlap:.0f} clip(s) the checkpoint was trained on"
    return True, "no evaluated clip was in the training data"


def decide(challenger: Candidate, champion: Candidate | None, policy: GatePolicy) -> Decision:
    """Apply the policy; every check adds a reason, and any failed check rejects."""
    champion_version = champion.version if champion else None
    new = challenger.get(policy.primary.key)
    if new is None:
        reason = f"{policy.primary.key} is missing from the challenger's metrics"
        return Decision(False, (reason,), champion_version)
    checks = [_leakage_check(challenger), _floor_check(new, policy)]
    if champion is None:
        checks.append((True, "no champion yet: the floor alone decides"))
        return _verdict(checks, None)
    if challenger.eval_set is None or challenger.eval_set != champion.eval_set:
        checks.append(
            (
                False,
                (
                    f"evaluation sets differ (challenger {challenger.eval_set}, champion "
                    f"{champion.eval_set}): not comparable; promote explicitly with `geovr promote`"
                ),
            )
        )
        return _verdict(checks, champion_version)
    old = champion.get(policy.primary.key)
    if old is None:
        checks.append((False, f"champion {champion_version} has no {policy.primary.key}"))
        return _verdict(checks, champion_version)
    checks.append(_primary_check(new, old, policy))
    checks += [_guard_check(rule, challenger, champion) for rule in policy.guarded]
    return _verdict(checks, champion_version)


def _verdict(checks: list[tuple[bool, str]], champion_version: str | None) -> Decision:
    reasons = tuple(("ok: " if ok else "FAIL: ") + text for ok, text in checks)
    return Decision(all(ok for ok, _ in checks), reasons, champion_version)
