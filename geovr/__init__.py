"""GeoVR: distil frozen 3D foundation models into a video MLLM.

The library behind the pipeline stages; every stage is a function here, a `geovr`
subcommand (see `geovr --help`) and a thin Kubeflow component under `components/`.
"""

__version__ = "0.1.0"
