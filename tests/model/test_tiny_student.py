"""Tiny offline students: tokenizer, chat template, the real processor classes, from_pretrained."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from geovr.model.adapters import adapter_by_family, load_student
from geovr.model.clip_inputs import encode_video_prompt, prepare_frames, prompt
from geovr.model.inputs import make_example
from geovr.model.tiny import SPECIAL_TOKENS, build_tiny_student, build_tokenizer
from geovr.model.tokens import IGNORE


def test_tokenizer_is_deterministic_and_keeps_special_tokens_whole():
    a, b = build_tokenizer(), build_tokenizer()
    assert a.get_vocab() == b.get_vocab()
    for token in SPECIAL_TOKENS:
        ids = a(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and a.convert_ids_to_tokens(ids[0]) == token
    text = "What is the distance between the sofa and the tv (in meters)? 3.5"
    assert a.decode(a(text)["input_ids"]) == text
    assert a.eos_token == "<|im_end|>" and a.pad_token == "<|endoftext|>"


def test_chat_template(kit):
    qa = kit.QA[1]
    assert prompt(kit.processor("qwen3_vl"), qa) == (
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>"
        "These are frames of a video.\nWhich of these objects (sofa, bed) is the closest to the tv?"
        "\nOptions:\nA. sofa\nB. bed\n"
        "Answer with the option's letter from the given choices directly.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert prompt(kit.processor("qwen3_vl"), kit.QA[0]).endswith(
        "Please answer the question using a single word or phrase.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_prepare_frames_rounds_to_the_token_grid_and_repeats_each_frame():
    frames = np.random.default_rng(0).integers(0, 256, (3, 70, 100, 3), dtype=np.uint8)
    video = prepare_frames(frames, factor=32)
    assert video.shape == (6, 64, 96, 3)
    assert (video[0::2] == video[1::2]).all()
    assert prepare_frames(frames, factor=32, max_side=64).shape == (6, 32, 64, 3)
    with pytest.raises(ValueError, match="uint8"):
        prepare_frames(frames.astype(np.float32), factor=32)


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_real_processor_one_temporal_grid_per_frame(kit, family):
    proc = kit.processor(family)
    enc = encode_video_prompt(
        proc, kit.frames(family), [prompt(proc, kit.QA[0])], timestamps=[0.0, 0.5, 1.0]
    )
    assert enc["video_grid_thw"].tolist() == [
        [3, 4, 6]
    ]  # 3 frames, 4x6 patches -> 2x3 tokens per frame
    video_id = proc.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    ids = enc["input_ids"][0]
    assert int((ids == video_id).sum()) == 3 * 6
    assert torch.equal(enc["mm_token_type_ids"][0] == 2, ids == video_id)  # M-RoPE needs these
    text = proc.tokenizer.decode(ids)
    if family == "qwen3_vl":  # per-frame timestamps show the real frame times
        assert "<0.0 seconds>" in text and "<0.5 seconds>" in text and "<1.0 seconds>" in text
    else:  # the temporal M-RoPE spacing uses the real interval
        assert enc["second_per_grid_ts"].tolist() == [0.5]


def test_make_example_labels_only_the_answer(kit):
    proc = kit.processor("qwen3_vl")
    ex = make_example(proc, kit.frames("qwen3_vl"), kit.QA[0])
    labelled = ex["labels"][ex["labels"] != IGNORE]
    assert proc.tokenizer.decode(labelled) == "2<|im_end|>"
    assert torch.equal(labelled, ex["input_ids"][-len(labelled) :])
    assert not any(k.startswith("target_") for k in ex)


def test_saved_tokenizer_writes_each_integer_answer_as_one_token(tmp_path):
    """Greedy decoding cannot stop a number a digit early ("15" for 153, issue 22) when no
    integer answer's tokens are a prefix of another's; checked on the tokenizer as saved with
    a student and loaded back, which is the one training and evaluation use."""
    build_tiny_student("qwen3_vl", out_dir=tmp_path / "tiny")
    tokenizer = AutoProcessor.from_pretrained(tmp_path / "tiny").tokenizer
    ids = {n: tokenizer(str(n), add_special_tokens=False)["input_ids"] for n in range(1000)}
    assert all(len(v) == 1 for v in ids.values())  # so none is a prefix of another
    assert len({v[0] for v in ids.values()}) == 1000
    decimal = tokenizer("23.5", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(decimal) == ["23", ".", "5"]


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_tiny_student_from_pretrained_round_trip(kit, family, tmp_path):
    model, processor = build_tiny_student(family, out_dir=tmp_path / "tiny")
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n_params < 5e6  # "a few M parameters"
    ex = make_example(processor, kit.frames(family), kit.QA[1])
    inputs = {
        k: (v[None] if k in ("input_ids", "mm_token_type_ids") else v)
        for k, v in ex.items()
        if k != "labels"
    }
    with torch.no_grad():
        expected = model(**inputs).logits
    plain = AutoModelForImageTextToText.from_pretrained(tmp_path / "tiny").eval()
    assert type(plain) is adapter_by_family(family).model_class
    reloaded_processor = AutoProcessor.from_pretrained(tmp_path / "tiny")
    assert type(reloaded_processor) is adapter_by_family(family).processor_class
    again = make_example(reloaded_processor, kit.frames(family), kit.QA[1])
    assert torch.equal(again["input_ids"], ex["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(plain(**inputs).logits, expected)
    loaded, _ = load_student(str(tmp_path / "tiny"))  # family read from the config
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**inputs).logits, expected)
