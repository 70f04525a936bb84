"""`geovr pipeline run` (what `make run` calls): the real Kubeflow pipeline on this machine.

1. Make `data/` match `data.dvc` (pull it, or regenerate it and verify the md5), and put
   that data version in the DVC cache and the default remote (`ensure_data`), because the
   pipeline's first step fetches a committed DVC revision and other clones `dvc pull` it.
2. Run `pipelines.geovr_pipeline` through `kfp.local` (SubprocessRunner, no Docker) with
   the `embedded` preset's parameters, artifacts under `runs/kfp/`, MLflow tracking and registry
   in `mlflow.db` (sqlite) with artifacts in `mlartifacts/`, both at the repository root.
"""

import json
import sys
import time
from pathlib import Path

from geovr.config.presets import EMBEDDED
from geovr.data.versioning import data_version, ensure_data, synth_regenerator
from pipelines.parameters import preset_parameters


def prepare_data(repo: Path) -> dict:
    ensured = ensure_data(repo, regenerate=synth_regenerator(), jobs=4)
    version = data_version(repo)
    if version["dirty"]:
        print(
            f"warning: data.dvc differs from git HEAD {version['git_rev'][:12]}; "
            "the pipeline reads the "
            f"committed version. Commit data.dvc to run on your workspace data.",
            file=sys.stderr,
        )
    return {**version, "action": ensured["action"], "pushed": ensured["pushed"]}


def local_params(repo: Path, git_rev: str, overrides: dict | None = None) -> dict:
    """The pipeline parameters of a local run: the `embedded` preset (small on purpose: minutes
    on 2 CPU cores, 2 gloo ranks, the tiny offline Qwen3-VL), MLflow in `repo`/mlflow.db,
    `overrides`, and the data at `git_rev` of `repo`."""
    return {
        **preset_parameters(EMBEDDED),
        "tracking_uri": f"sqlite:///{repo / 'mlflow.db'}",
        **(overrides or {}),
        "data_repo": str(repo),
        "data_rev": git_rev,
    }


def run_local(repo_root: str = ".", runs_dir: str = "runs", overrides: dict | None = None) -> dict:
    from kfp import local

    from pipelines import local_oneof
    from pipelines.geovr_pipeline import geovr_pipeline

    local_oneof.enable()  # the checkpoint is a dsl.OneOf of the two train branches
    repo = Path(repo_root).resolve()
    start = time.perf_counter()
    version = prepare_data(repo)
    data_seconds = time.perf_counter() - start
    pipeline_root = (repo / runs_dir / "kfp").resolve()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    params = local_params(repo, version["git_rev"], overrides)
    result = geovr_pipeline(**params)
    evaluation = Path(result.outputs["evaluation"].path)
    metrics = json.loads((evaluation / "metrics.json").read_text())
    model = params.get("model_name", "geovr-student")
    return {
        "data_version": {
            "dvc_md5": version["dvc_md5"],
            "git_rev": version["git_rev"],
            "action": version["action"],
            "pushed": version["pushed"],
        },
        "checkpoint": result.outputs["checkpoint"].path,
        "evaluation": str(evaluation),
        "report": str(evaluation / "report.html"),
        "vsi_overall": metrics["vsi"]["overall"],
        "probes": metrics.get("probes", {}),
        "registered": {
            "model": model,
            "version": result.outputs["version"],
            "decision": result.outputs["decision"],
            "tracking_uri": params["tracking_uri"],
        },
        "load": f"mlflow.pyfunc.load_model('models:/{model}/{result.outputs['version']}')",
        "mlflow_ui": f"mlflow ui --backend-store-uri {params['tracking_uri']}",
        "pipeline_root": str(pipeline_root),
        "seconds": {"data": round(data_seconds, 1), "total": round(time.perf_counter() - start, 1)},
    }
