"""Deterministic synthetic indoor scenes with exact geometry, rendered to real videos.

    geovr data synth --out data --scenes 24 --frames 16 --size 128 --seed 0

`scene.py` samples rooms, furniture and camera paths; `render.py` ray-casts them (exact
depth, intrinsics, extrinsics, per-pixel object ids); `qa.py` derives VSI-Bench questions
from the scene description; `generate.py` writes the dataset layout of docs/contracts.md.
"""
