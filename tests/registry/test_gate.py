"""The promotion gate as a pure function: examples, policy loading, and a Hypothesis property
(it never promotes a worse primary metric or a guarded regression beyond tolerance)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geovr.errors import GeoVRError
from geovr.registry.gate import DEFAULT_GUARDS, Candidate, GatePolicy, MetricRule, decide

BASE = {
    "vsi.overall": 40.0,
    "probes.depth_absrel": 0.20,
    "probes.depth_delta1": 0.70,
    "probes.pose_auc30": 0.50,
    "probes.scale_rel_err": 0.30,
}


def candidate(version: str = "2", eval_set: str | None = "a", **changes: float) -> Candidate:
    metrics = dict(BASE)
    for key, value in changes.items():
        metrics[key.replace("__", ".")] = value
    return Candidate(version, eval_set, metrics)


CHAMPION = candidate("1")


def test_first_version_needs_only_the_floor():
    assert decide(candidate(), None, GatePolicy(floor=30.0)).promote
    rejected = decide(candidate(), None, GatePolicy(floor=45.0))
    assert not rejected.promote and "misses floor 45" in " ".join(rejected.reasons)


def test_metrics_on_training_clips_never_promote():
    leaked = decide(
        candidate(vsi__overall=90.0, leakage__overlapping_clips=3), CHAMPION, GatePolicy()
    )
    assert not leaked.promote
    assert "FAIL: evaluated on 3 clip(s) the checkpoint was trained on" in leaked.reasons
    assert not decide(candidate(leakage__overlapping_clips=1), None, GatePolicy()).promote
    clean = decide(
        candidate(vsi__overall=41.0, leakage__overlapping_clips=0), CHAMPION, GatePolicy()
    )
    assert clean.promote and "ok: no evaluated clip was in the training data" in clean.reasons
    unknown = decide(
        candidate(vsi__overall=41.0, leakage__overlapping_clips=-1), CHAMPION, GatePolicy()
    )
    assert unknown.promote and any("leakage not checked" in r for r in unknown.reasons)


def test_better_primary_promotes_and_margin_is_strict():
    assert decide(candidate(vsi__overall=41.0), CHAMPION, GatePolicy(margin=0.5)).promote
    assert not decide(candidate(vsi__overall=40.5), CHAMPION, GatePolicy(margin=0.5)).promote
    assert not decide(candidate(vsi__overall=40.0), CHAMPION, GatePolicy()).promote


@pytest.mark.parametrize(
    ("key", "worse"),
    [
        ("probes.depth_absrel", 0.25),  # lower is better: a rise is a regression
        ("probes.scale_rel_err", 0.35),
        ("probes.depth_delta1", 0.60),  # higher is better: a fall is a regression
        ("probes.pose_auc30", 0.40),
    ],
)
def test_guarded_regression_beyond_tolerance_rejects(key, worse):
    challenger = candidate(vsi__overall=45.0, **{key.replace(".", "__"): worse})
    decision = decide(challenger, CHAMPION, GatePolicy())
    assert not decision.promote
    assert any(r.startswith("FAIL") and key in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("key", "better"),
    [
        ("probes.depth_absrel", 0.10),
        ("probes.depth_delta1", 0.90),
        ("probes.pose_auc30", 0.42),  # a regression of 0.08 within a 0.1 tolerance
    ],
)
def test_improvements_and_tolerated_regressions_pass(key, better):
    policy = GatePolicy(guarded=(*DEFAULT_GUARDS[:2], MetricRule("probes.pose_auc30", True, 0.1)))
    challenger = candidate(vsi__overall=41.0, **{key.replace(".", "__"): better})
    assert decide(challenger, CHAMPION, policy).promote


def test_never_compares_across_evaluation_sets():
    for eval_set in ("b", None):
        decision = decide(candidate(eval_set=eval_set, vsi__overall=90.0), CHAMPION, GatePolicy())
        assert not decision.promote
        assert "evaluation sets differ" in decision.reasons[-1]


def test_missing_metrics_reject():
    no_primary = Candidate("2", "a", {k: v for k, v in BASE.items() if k != "vsi.overall"})
    assert not decide(no_primary, CHAMPION, GatePolicy()).promote
    assert not decide(no_primary, None, GatePolicy()).promote
    no_guard = Candidate("2", "a", {**BASE, "vsi.overall": 50.0, "probes.pose_auc30": math.nan})
    assert not decide(no_guard, CHAMPION, GatePolicy()).promote
    # A guard the champion never had is not compared.
    old = Candidate("1", "a", {"vsi.overall": 40.0})
    assert decide(candidate(vsi__overall=41.0), old, GatePolicy()).promote


def test_policy_loads_from_json_file_inline_and_overrides(tmp_path):
    data = {
        "margin": 1.0,
        "primary": {"key": "vsi.overall", "higher_is_better": True},
        "guarded": [{"key": "probes.depth_absrel", "higher_is_better": False, "tolerance": 0.02}],
    }
    file = tmp_path / "policy.json"
    file.write_text(json.dumps(data))
    from_file = GatePolicy.load(file)
    assert from_file == GatePolicy.load(json.dumps(data))
    assert from_file.margin == 1.0 and len(from_file.guarded) == 1
    assert GatePolicy.load(file, margin=2.0, floor=None).margin == 2.0
    assert GatePolicy.load(None) == GatePolicy()
    assert GatePolicy.from_dict(from_file.to_dict()) == from_file


@pytest.mark.parametrize(
    "bad",
    [
        '{"margin": -1}',
        '{"floor": "nan"}',
        '{"colour": 1}',
        '{"guarded": [{"key": "x"}]}',
        "{not json",
        "/no/such/policy.json",
    ],
)
def test_bad_policies_are_clear_errors(bad):
    with pytest.raises(GeoVRError, match="policy"):
        GatePolicy.load(bad)


# --- property -------------------------------------------------------------------------
values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
tolerances = st.floats(min_value=0.0, max_value=10.0)
rules = st.builds(
    MetricRule,
    key=st.sampled_from([f"probe{i}" for i in range(4)]),
    higher_is_better=st.booleans(),
    tolerance=tolerances,
)
policies = st.builds(
    GatePolicy,
    primary=st.builds(MetricRule, key=st.just("primary"), higher_is_better=st.booleans()),
    margin=tolerances,
    floor=values,
    guarded=st.lists(rules, max_size=4).map(tuple),
)
metric_maps = st.dictionaries(
    st.sampled_from(["primary"] + [f"probe{i}" for i in range(4)]),
    st.one_of(values, st.just(math.nan)),
)


@settings(max_examples=400, deadline=None)
@given(
    policies,
    metric_maps,
    metric_maps,
    st.sampled_from(["a", "b", None]),
    st.sampled_from(["a", "b", None]),
    st.booleans(),
)
def test_gate_never_promotes_a_worse_model(policy, new, old, new_set, old_set, has_champion):
    challenger = Candidate("2", new_set, new)
    champion = Candidate("1", old_set, old) if has_champion else None
    decision = decide(challenger, champion, policy)
    assert decision.reasons  # every decision explains itself
    if not decision.promote:
        return
    primary = policy.primary
    assert primary.gain(new["primary"], policy.floor) >= 0
    if champion is None:
        return
    assert new_set is not None and new_set == old_set
    assert primary.gain(new["primary"], old["primary"]) > policy.margin >= 0
    for rule in policy.guarded:
        if math.isfinite(old.get(rule.key, math.nan)):
            assert -rule.gain(new[rule.key], old[rule.key]) <= rule.tolerance
