"""Checkpoints: a plain Hugging Face student (loads with transformers alone, in a process that
never imports geovr, and gives the wrapper's logits) + GeoVR heads restored for more training."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from geovr.model.checkpoint import CONFIG_FILE, HEADS_FILE, load_geovr, save_student
from geovr.model.clip_inputs import encode_video_prompt, prepare_frames, prompt, resize_factor
from geovr.model.geovr import GeoVRModel

PLAIN_LOAD = r"""
import sys
import numpy as np, torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.video_utils import VideoMetadata

ckpt, work = sys.argv[1], sys.argv[2]
model = AutoModelForImageTextToText.from_pretrained(ckpt).eval()
processor = AutoProcessor.from_pretrained(ckpt)
video = np.load(f"{work}/video.npy")                     # frames already repeated x2
text = open(f"{work}/prompt.txt").read()
times = [t for t in (0.0, 0.5, 1.0) for _ in range(2)]
metadata = VideoMetadata(len(video), fps=1.0, frames_indices=times)
inputs = processor(text=[text], videos=[video], video_metadata=[metadata],
                   do_sample_frames=False, do_resize=False, return_tensors="pt")
inputs = {k: v for k, v in inputs.items() if torch.is_tensor(v)}
if "second_per_grid_ts" in inputs:
    inputs["second_per_grid_ts"] = torch.tensor([0.5])
with torch.no_grad():
    logits = model(**inputs).logits
outputs = {"logits": logits.contiguous(), "input_ids": inputs["input_ids"].contiguous()}
save_file(outputs, f"{work}/out.safetensors")
assert not [m for m in sys.modules if m == "geovr" or m.startswith("geovr.")], "geovr was imported"
print(type(model).__name__, model.config.text_config.vocab_size)
"""


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_saved_student_loads_with_plain_transformers_and_matches_the_wrapper(kit, family, tmp_path):
    student, processor = kit.student(family), kit.processor(family)
    geo = GeoVRModel(student, kit.config())
    geo(kit.batch(family))["total"].backward()  # a trained-looking state is not needed; heads exist
    vocab = student.config.text_config.vocab_size
    ckpt = save_student(geo, tmp_path / "ckpt", processor, training_config={"steps": 0})
    names = {p.name for p in ckpt.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        HEADS_FILE,
        CONFIG_FILE,
        "processor_config.json",
    } <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert (
        json.loads((ckpt / "config.json").read_text())["text_config"]["vocab_size"] == vocab
    )  # no extra token
    assert not any(k.startswith("student.") for k in load_file(ckpt / HEADS_FILE))

    video = prepare_frames(kit.frames(family), resize_factor(processor))
    np.save(tmp_path / "video.npy", video)
    text = prompt(processor, kit.QA[1])
    (tmp_path / "prompt.txt").write_text(text)
    run = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(ckpt), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = load_file(tmp_path / "out.safetensors")

    inputs = encode_video_prompt(processor, kit.frames(family), [text], timestamps=[0.0, 0.5, 1.0])
    assert torch.equal(out["input_ids"], inputs["input_ids"])
    lm_only = GeoVRModel(student.eval(), kit.config("lm"))  # heads off: what inference runs
    inputs["labels"] = inputs["input_ids"]
    with torch.no_grad():
        logits = lm_only.run_student(inputs, lm_only.layout(inputs), with_logits=True).logits
    torch.testing.assert_close(out["logits"], logits)


def test_load_restores_heads_and_config(kit, tmp_path):
    geo = GeoVRModel(kit.student("qwen3_vl"), kit.config())
    with torch.no_grad():
        geo.camera_tokens.add_(1.0)
    save_student(geo, tmp_path / "ckpt", kit.processor("qwen3_vl"))
    again, processor = load_geovr(tmp_path / "ckpt")
    assert again.config == geo.config and again.layers == geo.layers
    assert processor.tokenizer.get_vocab() == kit.processor("qwen3_vl").tokenizer.get_vocab()
    for name, value in geo.head_state_dict().items():
        torch.testing.assert_close(again.head_state_dict()[name], value, msg=name)
    for name, value in geo.student.state_dict().items():
        torch.testing.assert_close(again.student.state_dict()[name], value, msg=name)
    batch = kit.batch("qwen3_vl")
    geo.eval(), again.eval()
    with torch.no_grad():
        a, b = geo(batch), again(batch)
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)

    # continue with another set of objectives: the shared heads are restored, the rest start fresh
    partial, _ = load_geovr(tmp_path / "ckpt", config=kit.config("lm", "cam"))
    torch.testing.assert_close(partial.camera_tokens, geo.camera_tokens)
    assert set(partial.heads) == {"cam"}


def test_a_plain_student_directory_gets_fresh_heads(kit, tmp_path):
    save_student(kit.student("qwen2_5_vl"), tmp_path / "plain", kit.processor("qwen2_5_vl"))
    assert load_file(tmp_path / "plain" / HEADS_FILE) == {}
    geo, _ = load_geovr(tmp_path / "plain", config=kit.config())
    assert set(geo.heads) == {"cam", "depth", "scale", "distill"}
    save_file({"bogus": torch.zeros(1)}, str(tmp_path / "plain" / HEADS_FILE))
    with pytest.raises(ValueError, match="do not match"):
        load_geovr(tmp_path / "plain")
