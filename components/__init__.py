"""Kubeflow Pipelines components, one folder per stage (`components/<stage>/component.py`).

Each component is thin: standard-library imports at module level (the KFP decorator
aside), the body imports `geovr` and calls one library function. All run in one image.
"""

import os

# The image every component runs in; set GEOVR_IMAGE when compiling for your registry.
BASE_IMAGE = os.environ.get("GEOVR_IMAGE", "ghcr.io/geovr/geovr:0.1.0")
