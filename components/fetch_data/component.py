"""KFP component: check out one DVC revision of the video dataset as a Dataset artifact.

The pipeline's first step. `data_repo` is the git repository holding `data.dvc` (a URL,
or a local path for `kfp.local` runs); `data_rev` a git revision (branch, tag, sha);
`target` the DVC-tracked directory (`<target>.dvc`). Scheduled retraining passes a branch
name, so every run takes that branch's newest data: the pipeline never serves this step from
KFP's cache, whose key (these inputs) is the same on every run while the branch moves.
"""

from typing import NamedTuple

from kfp import dsl

from components import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def fetch_data(
    data_repo: str,
    data_rev: str,
    dvc_remote: str,
    jobs: int,
    data: dsl.Output[dsl.Dataset],
    target: str = "data",
) -> NamedTuple("DataVersion", [("dvc_md5", str), ("git_rev", str)]):
    import json

    from geovr.data.download import checkout_revision

    result = checkout_revision(
        data_repo, data_rev, data.path, target=target, jobs=jobs or None, remote=dvc_remote or None
    )
    print(json.dumps(result))
    data.metadata.update(
        {"dvc_md5": result["dvc_md5"], "git_rev": result["git_rev"], "rev": data_rev}
    )
    return (result["dvc_md5"], result["git_rev"])
