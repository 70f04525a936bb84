"""Kubeflow Pipelines components, one folder per stage (`components/<stage>/component.py`).

Each component is thin: standard-library imports at module level (the KFP decorator
aside), the body imports `geovr` and calls one library function. All run in one image.
"""

import os

# The image every component runs in; `make compile` sets GEOVR_IMAGE to the pushed digest
# (REPO@sha256:..., pipelines/images.py), the default tag serves local runs, which use no image.
BASE_IMAGE = os.environ.get("GEOVR_IMAGE", "ghcr.io/geovr/geovr:0.1.0")
