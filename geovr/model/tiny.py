"""Tiny offline students: a real Qwen3-VL / Qwen2.5-VL architecture with every width shrunk,
random init, and a tokenizer + processor built here without any download.

    from geovr.model.tiny import build_tiny_student
    model, processor = build_tiny_student("qwen3_vl", out_dir="runs/tiny")   # ~1.5 M parameters
    # runs/tiny is a plain Hugging Face directory:
    # AutoModelForImageTextToText / AutoProcessor load it

The tokenizer is a byte-level BPE trained (deterministically, in milliseconds) with the
`tokenizers` library on a fixed corpus of VSI-style questions and answers, using the Qwen2
pre-tokenizer with one change: digits go in runs of up to three (as in the Llama 3 and cl100k
tokenizers), not one a token, so every integer 0-999 is one token. With one token per digit,
greedy decoding of a small student stops numbers a digit early: after "15" the end-of-turn
token competes with ten third digits that split the mass between them (P(stop) = 0.2 beats
0.08 for each digit while continuing has 0.8). It is saved as a generic `tokenizers`-backed
tokenizer, because `Qwen2Tokenizer` rebuilds its own pre-tokenizer (single digits) on load.
It has the Qwen special tokens (`<|im_start|>`, `<|im_end|>`, `<|vision_start|>`,
`<|vision_end|>`, `<|video_pad|>`, `<|image_pad|>`, ...), so the real processor classes
(`Qwen3VLProcessor`, `Qwen2_5_VLProcessor` and their video/image processors) work unchanged,
including Qwen3-VL's per-frame timestamps and `mm_token_type_ids`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from geovr.model.adapters import adapter_by_family

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TOKENIZER_VOCAB = 2048  # room for every integer 0-999 as one token (1,574 are used)
# Qwen2's split with digit runs of 1-3 in place of single digits: "153" is one token, not 1, 5, 3
NUMBER_PRETOKENIZE_REGEX = PRETOKENIZE_REGEX.replace(r"|\p{N}|", r"|\p{N}{1,3}|", 1)

# The Qwen chat format: `<|im_start|>role\n ... <|im_end|>\n`; a video is
# `<|vision_start|><|video_pad|><|vision_end|>`, which the processor expands per frame.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CATEGORIES = (
    "chair",
    "table",
    "sofa",
    "bed",
    "tv",
    "lamp",
    "cabinet",
    "plant",
    "refrigerator",
    "bookshelf",
    "desk",
    "door",
    "window",
    "stool",
    "toilet",
    "sink",
    "monitor",
    "trash can",
)
_DIRECTIONS = ("left", "right", "back", "front-left", "front-right", "back-left", "back-right")


def _corpus() -> list[str]:
    """Fixed training text: VSI-Bench question templates, options, numbers, chat roles."""
    lines = [
        "user assistant system",
        "You are a helpful assistant.",
        "Answer with the option's letter from the given choices directly.",
        "Please answer the question using a single word or phrase.",
        " ".join(str(i) for i in range(1000)),
        "0.1 0.25 0.5 1.5 2.75 3.0 10.5 12.3 100.0 seconds",
    ]
    for a, b in itertools.permutations(_CATEGORIES[:10], 2):
        lines += [
            f"How many {a}(s) are in this room?",
            f"What is the distance between the centers of the {a} and the {b} (in meters)?",
            f"What is the length of the longest dimension (length, width, or height) of the {a}, "
            "measured in centimeters?",
            f"Measuring between object centers, which of these objects ({a}, {b}) "
            f"is the closest to the {a}?",
            f"If I am standing by the {a} and facing the {b}, "
            f"is the {a} to my {' or '.join(_DIRECTIONS[:3])}?",
            "What will be the first-time appearance order of the following categories "
            f"in the video: {a}, {b}?",
            f"A. {a} B. {b} C. {a}, {b} D. {b}, {a}",
        ]
    lines += [
        "What is the size of this room (in square meters)?",
        " ".join(_CATEGORIES + _DIRECTIONS),
    ]
    return lines


def build_tokenizer(vocab_size: int = TOKENIZER_VOCAB) -> PreTrainedTokenizerFast:
    """A tiny Qwen2-style tokenizer, identical on every call (the BPE trainer is deterministic)."""
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(NUMBER_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(family: str = "qwen3_vl", tokenizer=None, max_pixels: int = 512 * 512 * 64):
    """The family's real processor class around the tiny tokenizer, with the chat template."""
    adapter = adapter_by_family(family)
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    patch, merge = adapter.default_patch_size, 2
    size = {"shortest_edge": (patch * merge) ** 2, "longest_edge": max_pixels}
    video = adapter.video_processor_class(
        patch_size=patch,
        temporal_patch_size=2,
        merge_size=merge,
        size=size,
        **adapter.video_processor_kwargs,
    )
    image = adapter.image_processor_class(
        patch_size=patch, temporal_patch_size=2, merge_size=merge, size=size
    )
    return adapter.processor_class(
        image_processor=image,
        tokenizer=tokenizer,
        video_processor=video,
        chat_template=CHAT_TEMPLATE,
    )


def _special_ids(tokenizer) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def tiny_config(
    family: str = "qwen3_vl",
    tokenizer=None,
    hidden: int = 128,
    layers: int = 4,
    vision_hidden: int = 64,
    vision_depth: int = 2,
):
    """Same architecture as the family's released models (M-RoPE, merger, deepstack for Qwen3-VL,
    window attention for Qwen2.5-VL), tiny widths. 4 heads: head_dim = hidden / 4, and the
    M-RoPE sections (t, h, w) split head_dim / 2 as 2:1:1 like the real models."""
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    head_dim = hidden // 4
    vocab = -(-len(tokenizer) // 64) * 64  # rounded up like the released vocabularies
    rope = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
    }
    text = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_parameters": rope,
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "depth": vision_depth,
        "hidden_size": vision_hidden,
        "intermediate_size": 2 * vision_hidden,
        "num_heads": 2,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": hidden,
    }
    adapter = adapter_by_family(family)
    if family == "qwen3_vl":
        text.update(head_dim=head_dim)
        rope["mrope_interleaved"] = True
        vision.update(
            patch_size=16,
            num_position_embeddings=64,
            deepstack_visual_indexes=list(range(min(2, vision_depth))),
        )
    elif family == "qwen2_5_vl":
        vision.update(
            patch_size=14,
            window_size=112,
            fullatt_block_indexes=[vision_depth - 1],
            tokens_per_second=2,
        )
    else:
        raise ValueError(f"no tiny config for family {family!r}")
    return adapter.config_class(
        text_config=text, vision_config=vision, tie_word_embeddings=False, **_special_ids(tokenizer)
    )


def build_tiny_student(
    family: str = "qwen3_vl", out_dir: str | Path | None = None, seed: int = 0, **config_kwargs
):
    """(model, processor) of a random-init tiny student; with `out_dir`, also saved there as a
    plain Hugging Face directory (safetensors + config + processor + chat template)."""
    adapter = adapter_by_family(family)
    processor = build_processor(family)
    torch.manual_seed(seed)
    model = adapter.model_class(tiny_config(family, processor.tokenizer, **config_kwargs))
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.eval()
    if out_dir is not None:
        out_dir = Path(out_dir)
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
    return model, processor
