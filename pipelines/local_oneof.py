"""dsl.OneOf of artifacts under kfp.local, as a cluster resolves it.

kfp.local (2.17.x) runs dsl.If / dsl.Else and resolves a dsl.OneOf of parameters to the
output of the branch that ran, but refuses a dsl.OneOf of artifacts ("Expected 1 artifact in
ArtifactSelectorSpec. Got: 2"), which the pipeline's train branches produce (the checkpoint).
`enable()` gives artifacts the rule kfp.local already applies to parameters: exactly one of
the selectors must name a task that produced the output.

    from pipelines.local_oneof import enable
    enable()          # before running a pipeline through kfp.local
"""

from typing import Any

from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils


def _branch_artifacts(cls: type, dag_outputs_spec: Any, io_store: Any) -> dict[str, Any]:
    outputs = {}
    for key, selector_spec in dag_outputs_spec.artifacts.items():
        produced = []
        for selector in selector_spec.artifact_selectors:
            try:
                produced.append(
                    io_store.get_task_output(
                        selector.producer_subtask, selector.output_artifact_key
                    )
                )
            except (KeyError, ValueError):  # the branch of that selector did not run
                continue
        if len(produced) != 1:
            raise ValueError(
                f"output {key!r}: {len(produced)} of {len(selector_spec.artifact_selectors)} "
                "branches produced it, expected exactly one"
            )
        outputs[key] = produced[0]
    return outputs


def enable() -> None:
    OrchestratorUtils.get_dag_output_artifacts = classmethod(_branch_artifacts)
