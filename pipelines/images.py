"""Which image a compiled pipeline runs, and whether a release may ship it.

A tag can be pushed again after the pipeline is compiled, so two runs of one pipeline version
could run different code; a digest cannot. A release build compiles against
`REPO@sha256:<64 hex>` (what `make image` records after `docker push`) and refuses a
tag-only reference unless it is told that a moving tag is meant.

    release_image("registry.example/geovr@sha256:ab...", allow_tag=False)  # the reference
    release_image("registry.example/geovr:0.1.0", allow_tag=False)         # GeoVRError
    pin_kustomization(Path("manifests/base/kustomization.yaml"), reference)
"""

import re
from pathlib import Path

import yaml

from geovr.errors import GeoVRError

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def is_pinned(image: str) -> bool:
    """Whether `image` names its content by digest (`REPO[:TAG]@sha256:...`)."""
    return bool(DIGEST.search(image))


def release_image(image: str | None, allow_tag: bool) -> str:
    """The image a release compiles against: a digest-pinned reference, or with `allow_tag`
    any reference; refused in one line otherwise."""
    if not image:
        raise GeoVRError(
            "a release compiles against your pushed image: set GEOVR_IMAGE (or --image) to "
            "REPO@sha256:DIGEST, which `make image` records"
        )
    if "@" in image and not is_pinned(image):
        raise GeoVRError(f"image {image!r}: a digest is sha256: and 64 lowercase hex digits")
    if not is_pinned(image) and not allow_tag:
        raise GeoVRError(
            f"image {image!r} is a tag, which can move after compiling: give REPO@sha256:DIGEST "
            "(`make image` records it), or --allow-tag-image to ship the tag anyway"
        )
    return image


def pin_kustomization(kustomization: Path, image: str, name: str = "geovr") -> dict:
    """Make `kustomization`'s `images:` entry for `name` the digest-pinned `image`; the file's
    leading comments are kept, the rest is rewritten as YAML."""
    if not is_pinned(image):
        raise GeoVRError(f"image {image!r}: pin by digest, REPO@sha256:DIGEST")
    repo, _, digest = image.partition("@")
    text = kustomization.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    doc = yaml.safe_load(text)
    others = [entry for entry in doc.get("images", []) if entry.get("name") != name]
    # a tag beside the digest is dropped: kustomize would write REPO:TAG@DIGEST, pinned anyway
    entry = {"name": name, "newName": repo.rsplit(":", 1)[0] if _has_tag(repo) else repo}
    doc["images"] = [*others, {**entry, "digest": digest}]
    kustomization.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return {"kustomization": str(kustomization), "image": name, "pinned": image}


def _has_tag(repo: str) -> bool:
    """Whether `repo` ends in :TAG (a registry's :PORT comes before a slash)."""
    return ":" in repo.rsplit("/", 1)[-1]
