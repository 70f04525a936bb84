"""The GeoVR wrapper on tiny Qwen3-VL and Qwen2.5-VL students: losses, probes, gradients,
zero overhead with the objectives off, parameter overhead of the heads."""

import copy

import pytest
import torch

from geovr.model.config import GeoVRConfig, HeadWidths
from geovr.model.geovr import GeoVRModel
from geovr.model.inputs import generate_answers, generation_inputs
from geovr.model.reference import head_overhead, qwen3_vl_2b_config
from geovr.model.tiny import tiny_config

FAMILIES = ["qwen3_vl", "qwen2_5_vl"]
STUDENT_KEYS = (
    "input_ids",
    "attention_mask",
    "mm_token_type_ids",
    "pixel_values_videos",
    "video_grid_thw",
    "second_per_grid_ts",
)


def _inputs(batch):
    return {k: batch[k] for k in STUDENT_KEYS if k in batch}


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_returns_every_term_and_the_weighted_total(kit, family):
    geo = GeoVRModel(kit.student(family), kit.config(loss_weights={"cam": 2.0, "depth": 0.5}))
    losses = geo(kit.batch(family))
    assert set(losses) == {"total", "lm", "cam", "depth", "scale", "distill"}
    expected = (
        losses["lm"]
        + 2.0 * losses["cam"]
        + 0.5 * losses["depth"]
        + losses["scale"]
        + losses["distill"]
    )
    torch.testing.assert_close(losses["total"], expected)
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    assert set(geo(**kit.batch(family))) == set(
        losses
    )  # model(**batch) works too (trainer contract)


@pytest.mark.parametrize("family", FAMILIES)
def test_probe_shapes(kit, family):
    geo = GeoVRModel(kit.student(family), kit.config()).eval()
    preds = geo.predict(kit.batch(family))
    n = 2 * kit.N_FRAMES
    assert preds["pose_enc"].shape == (n, 9) and (preds["pose_enc"][:, 7:] >= 0).all()
    assert preds["depth"].shape == (n, *kit.DEPTH_SIZE) and (preds["depth"] > 0).all()
    assert preds["metric_scale"].shape == (2,) and (preds["metric_scale"] > 0).all()
    assert list(preds["features"]) == ["4", "11", "17", "23"]
    assert all(
        f.shape == (n, *kit.TEACHER_GRID, kit.TEACHER_DIM) for f in preds["features"].values()
    )
    assert preds["frames"] == [kit.N_FRAMES, kit.N_FRAMES]
    bare = geo.predict(kit.batch(family, with_targets=False))  # no targets: model's own sizes
    factor = geo.adapter.resize_factor(geo.student)
    assert bare["depth"].shape == (n, 2 * factor, 3 * factor)
    assert all(f.shape == (n, 2, 3, kit.TEACHER_DIM) for f in bare["features"].values())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("objective", ["cam", "depth", "scale", "distill"])
@pytest.mark.slow
def test_each_geometry_loss_reaches_the_llm_and_not_the_frozen_vision_tower(kit, family, objective):
    geo = GeoVRModel(kit.student(family), kit.config(objective))
    losses = geo(kit.batch(family))
    assert set(losses) == {objective, "total"}
    losses[objective].backward()
    llm = geo.student.model.language_model
    for layer in llm.layers:
        grad = layer.self_attn.q_proj.weight.grad
        assert grad is not None and grad.abs().sum() > 0, objective
    visual = geo.adapter.vision_tower(geo.student)
    merger = {id(p) for m in geo.adapter.merger_modules(geo.student) for p in m.parameters()}
    for p in visual.parameters():
        if id(p) in merger:
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0
        else:
            assert not p.requires_grad and p.grad is None
    for (
        name,
        p,
    ) in geo.new_parameters():  # its head and its token (a dead FoV ReLU may give a zero grad)
        assert p.grad is not None, name
        if "token" in name:
            assert p.grad.abs().sum() > 0, name


def test_vision_tower_is_trainable_when_asked(kit):
    geo = GeoVRModel(kit.student("qwen3_vl"), kit.config("lm", freeze_vision=False))
    assert all(p.requires_grad for p in geo.student.parameters())
    frozen_merger = GeoVRModel(kit.student("qwen3_vl"), kit.config("lm", freeze_merger=True))
    assert not any(
        p.requires_grad
        for p in frozen_merger.adapter.vision_tower(frozen_merger.student).parameters()
    )
    groups = GeoVRModel(kit.student("qwen3_vl"), kit.config()).param_groups()
    assert set(groups) == {"model", "heads"} and groups["heads"] and groups["model"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.slow
def test_sft_baseline_is_the_plain_student(kit, family):
    student = kit.student(family)
    geo = GeoVRModel(student, kit.config("lm"))
    assert len(geo.heads) == 0 and list(geo.new_parameters()) == []
    batch = kit.batch(family)
    losses = geo(batch)
    assert set(losses) == {"lm", "total"}
    with torch.no_grad():
        plain = student(**_inputs(batch), labels=batch["labels"])
        layout = geo.layout(batch)
        assert not layout.inserted.any() and layout.position_ids is None
        wrapped = geo.run_student(batch, layout, with_logits=True)
    torch.testing.assert_close(losses["lm"].detach(), plain.loss, rtol=0, atol=0)
    torch.testing.assert_close(wrapped.logits, plain.logits, rtol=0, atol=0)
    assert not student.get_input_embeddings()._forward_hooks  # nothing left behind


@pytest.mark.parametrize("family", FAMILIES)
def test_tokens_before_the_first_insertion_are_untouched(kit, family):
    """Causal attention + unchanged positions: logits up to the first camera token equal the
    plain forward's; the camera/scale embeddings are the learnable ones."""
    student = kit.student(family).eval()
    geo = GeoVRModel(student, kit.config())
    batch = kit.batch(family)
    with torch.no_grad():
        plain = student(**_inputs(batch)).logits
        layout = geo.layout(batch)
        out = geo.run_student(batch, layout, with_logits=True)
    for b in range(2):
        first = int(layout.inserted[b].nonzero()[0])
        torch.testing.assert_close(out.logits[b, :first], plain[b, :first])
        assert not torch.allclose(out.logits[b, first + 1 : first + 4], plain[b, first : first + 3])
    assert not student.get_input_embeddings()._forward_hooks


def test_clear_errors(kit):
    geo = GeoVRModel(kit.student("qwen3_vl"), kit.config())
    with pytest.raises(ValueError, match="need teacher targets"):
        geo(kit.batch("qwen3_vl", with_targets=False))
    wide = GeoVRModel(
        kit.student("qwen3_vl"),
        GeoVRConfig(objectives=("distill",), widths=HeadWidths.tiny(), teacher_feature_dim=16),
    )
    with pytest.raises(ValueError, match="channels"):
        wide(kit.batch("qwen3_vl"))


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_uses_the_plain_student(kit, family, monkeypatch):
    """Answers come from the HF student's own `generate` on the plain prompt: a student inside
    a GeoVR model with every token and head on answers exactly like an unwrapped copy, and no
    head runs."""
    student = kit.student(family).eval()
    unwrapped = copy.deepcopy(student)
    processor, frames = kit.processor(family), kit.frames(family)
    geo = GeoVRModel(student, kit.config())
    with torch.no_grad():
        for token in geo.geometry_tokens():
            token.fill_(10.0)  # would change every answer if it were inserted
    heads_run = []
    for name, head in geo.heads.items():
        head.register_forward_hook(lambda *_, name=name: heads_run.append(name))
    calls = []
    own_generate = student.generate

    def spy(**kwargs):
        calls.append((kwargs, own_generate(**kwargs)))
        return calls[-1][1]

    monkeypatch.setattr(student, "generate", spy)
    answers = generate_answers(geo.student, processor, frames, list(kit.QA), max_new_tokens=3)

    assert len(calls) == 1 and heads_run == []
    kwargs, sequences = calls[0]
    plain = generation_inputs(processor, frames, list(kit.QA))
    assert torch.equal(kwargs["input_ids"], plain["input_ids"])  # no camera or scale token
    with torch.inference_mode():
        assert torch.equal(sequences, unwrapped.generate(**kwargs))
    prompt_length = plain["input_ids"].shape[1]
    assert answers == processor.batch_decode(sequences[:, prompt_length:], skip_special_tokens=True)


def test_head_parameter_overhead():
    tiny = head_overhead(
        tiny_config("qwen3_vl"), GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=8)
    )
    paper = head_overhead(qwen3_vl_2b_config(), GeoVRConfig())
    print(
        f"\ntiny Qwen3-VL: student {tiny['student'] / 1e6:.2f} M, "
        f"heads+tokens {tiny['new_total'] / 1e6:.3f} M, "
        f"ratio {tiny['ratio']:.2%}"
    )
    print(
        f"Qwen3-VL-2B: student {paper['student'] / 1e9:.3f} B, "
        f"heads+tokens {paper['new_total'] / 1e6:.2f} M "
        f"(cam {paper['head_cam'] / 1e6:.2f}, depth {paper['head_depth'] / 1e6:.2f}, "
        f"scale {paper['head_scale'] / 1e6:.2f}, distill {paper['head_distill'] / 1e6:.2f}, "
        f"tokens {paper['tokens']}), "
        f"ratio {paper['ratio']:.2%}"
    )
    assert 2.0e9 < paper["student"] < 2.3e9  # Qwen3-VL-2B has 2.13 B parameters
    assert paper["tokens"] == 3 * 2048
    assert paper["ratio"] < 0.03 and tiny["ratio"] < 0.2


def test_visual_states_are_the_plain_students_states_at_its_video_tokens(kit):
    # what the representation probes read: frame by frame, in the token grid's order
    student = kit.student("qwen3_vl")
    geo = GeoVRModel(student, kit.config("lm")).eval()
    batch = kit.batch("qwen3_vl", with_targets=False)
    states = geo.visual_states(batch, [0, 2])
    frames = 2 * kit.N_FRAMES
    assert [tuple(s.shape) for s in states] == [(frames, 2, 3, 128)] * 2
    with torch.no_grad():
        plain = student(**_inputs(batch), output_hidden_states=True).hidden_states
    video = batch["input_ids"] == student.config.video_token_id
    for layer, found in zip([0, 2], states, strict=True):
        expected = plain[layer][video].view(frames, 2, 3, -1)
        torch.testing.assert_close(found, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="objectives lm"):
        GeoVRModel(student, kit.config()).visual_states(kit.batch("qwen3_vl"), [0])
