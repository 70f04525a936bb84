"""The TrainJob launcher: manifest vs the CRD schema, and the client against a local stand-in
of the Kubernetes API (tests/train/k8s_standin.py)."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client

from geovr.errors import GeoVRError
from geovr.train.cluster import NODE_ENV_KEYS
from geovr.train.trainjob import (
    TrainJobFailed,
    TrainJobLauncher,
    TrainJobSpec,
    build_trainjob,
    unique_name,
    validate_trainjob,
)

from .k8s_standin import KubeStandIn, condition

NS = "team-a"


def _spec(**kw) -> TrainJobSpec:
    base = dict(
        name="geovr-train-1",
        namespace=NS,
        image="registry/geovr:1",
        command=[
            "torchrun",
            "-m",
            "geovr.train.worker",
            "--task",
            "geovr.train.geovr_task:GeoVRTask",
        ],
    )
    return TrainJobSpec(**{**base, **kw})


def _launcher(stand_in: KubeStandIn, logs: list[str]) -> TrainJobLauncher:
    conf = client.Configuration()
    conf.host = stand_in.url
    return TrainJobLauncher(conf, poll_seconds=0.01, log=logs.append)


def test_manifest_maps_nodes_gpus_secrets_and_volumes():
    spec = _spec(
        num_nodes=4,
        gpus_per_node=8,
        memory="200Gi",
        env={"NCCL_DEBUG": "WARN"},
        env_from_secrets={
            "AWS_SECRET_ACCESS_KEY": ("geovr-s3-credentials", "AWS_SECRET_ACCESS_KEY")
        },
        active_deadline_seconds=86400,
        service_account="geovr-pipeline",
        volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "geovr-train"}}],
        volume_mounts=[{"name": "work", "mountPath": "/mnt/train"}],
        labels={"kfp-run-id": "r1"},
    )
    manifest = build_trainjob(spec)
    trainer = manifest["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (4, 8)
    assert trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": 8, "memory": "200Gi"}
    secret = next(e for e in trainer["env"] if e["name"] == "AWS_SECRET_ACCESS_KEY")
    assert secret == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {
            "secretKeyRef": {"name": "geovr-s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
        },
    }
    assert manifest["spec"]["runtimeRef"] == {
        "name": "torch-distributed",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    pod = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"
    ][0]
    assert pod["name"] == "node"
    assert (
        pod["template"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"]
        == "/mnt/train"
    )
    assert manifest["spec"]["activeDeadlineSeconds"] == 86400


@pytest.mark.parametrize(
    ("path", "mutate"),
    [
        ("spec.trainer.numNodes", lambda m: m["spec"]["trainer"].update(numNodes=0)),
        (
            "spec.trainer",
            lambda m: m["spec"]["trainer"].update(numNode=2),
        ),  # a typo is not silently pruned
        ("metadata.name", lambda m: m["metadata"].update(name="Geovr_Train")),
        ("spec", lambda m: m["spec"].pop("runtimeRef")),
        (
            "spec.trainer.env.0",
            lambda m: m["spec"]["trainer"].update(
                env=[
                    {
                        "name": "A",
                        "value": "1",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            ),
        ),
    ],
)
def test_schema_rejects_bad_manifests_naming_the_field(path, mutate):
    manifest = build_trainjob(_spec(gpus_per_node=1))
    mutate(manifest)
    with pytest.raises(ValueError, match=rf"invalid TrainJob at {path.replace('.', '[.]')}\b"):
        validate_trainjob(manifest)


def test_unique_names_are_valid_and_distinct():
    names = {unique_name("GeoVR-Train-" + "x" * 80) for _ in range(20)}
    assert len(names) == 20
    for name in names:
        validate_trainjob(build_trainjob(_spec(name=name)))


def test_run_streams_node0_logs_and_completes():
    steps = [
        [],
        [condition("Created")],
        [condition("Created")],
        [condition("Complete", "JobCompleted", "done")],
    ]
    with KubeStandIn(
        steps, log_lines=["rank 0 up", "step 1 loss 3.2", "step 2 loss 2.9", "saved"]
    ) as api:
        logs: list[str] = []
        result = _launcher(api, logs).run(_spec())
        assert result.name == "geovr-train-1" and result.log_lines == 4
        assert logs.index("rank 0 up") < logs.index("step 2 loss 2.9") < logs.index("saved")
        assert any("Complete" in line for line in logs)
        assert api.methods("POST") == [
            f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NS}/trainjobs?fieldValidation=Strict"
        ]
        assert api.methods("DELETE") == []  # a finished job stays for inspection


def test_failed_job_raises_its_reason_and_message():
    steps = [
        [condition("Created")],
        [condition("Failed", "DeadlineExceeded", "active deadline of 60 s reached")],
    ]
    with KubeStandIn(steps) as api:
        with pytest.raises(
            TrainJobFailed, match="DeadlineExceeded: active deadline of 60 s reached"
        ) as info:
            _launcher(api, []).run(_spec())
        assert info.value.reason == "DeadlineExceeded"


def test_duplicate_name_is_a_clear_error():
    with KubeStandIn([[condition("Created")]]) as api:
        launcher = _launcher(api, [])
        launcher.submit(_spec())
        with pytest.raises(GeoVRError, match=f"TrainJob {NS}/geovr-train-1 already exists"):
            launcher.submit(_spec())


def test_timeout_deletes_the_job():
    with KubeStandIn([[condition("Created")]]) as api:
        with pytest.raises(GeoVRError, match="did not finish"):
            _launcher(api, []).run(_spec(), timeout=0.05)
        path = f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NS}/trainjobs/geovr-train-1"
        assert api.methods("DELETE") == [f"{path}?propagationPolicy=Foreground"]
        assert api.jobs == {}


def test_cancel_deletes_the_job():
    with KubeStandIn([[condition("Created")]]) as api:
        logs: list[str] = []
        launcher = _launcher(api, logs)
        original = launcher._get

        def cancelled_on_third_poll(name, namespace):
            if api.gets >= 2:
                raise KeyboardInterrupt("signal 15")  # what SIGTERM becomes inside run()
            return original(name, namespace)

        launcher._get = cancelled_on_third_poll
        with pytest.raises(KeyboardInterrupt):
            launcher.run(_spec())
        assert len(api.methods("DELETE")) == 1 and api.jobs == {}


def test_transient_503_is_retried():
    steps = [[condition("Created")], [condition("Complete", "JobCompleted", "")]]
    with KubeStandIn(steps, fail_get={1}) as api:
        result = _launcher(api, []).run(_spec())
        assert result.name == "geovr-train-1" and api.gets == 2  # the 503 was retried, not raised


def test_sigterm_handler_is_only_installed_on_the_main_thread():
    errors: list[BaseException] = []

    def worker():
        try:
            with KubeStandIn([[condition("Complete", "JobCompleted", "")]]) as api:
                _launcher(api, []).run(_spec())
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            errors.append(e)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    assert errors == []


def test_geovr_train_on_two_nodes_submits_the_worker_command_on_the_shared_volume(
    geovr_data, tmp_path, monkeypatch
):
    from geovr.train.run import run_training

    clips, targets = geovr_data
    steps = [[condition("Created")], [condition("Failed", "PodFailed", "node 1 OOMKilled")]]
    with KubeStandIn(steps) as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: k, cluster: {{server: '{api.url}'}}}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: u, namespace: team-a}}]\n"
            "users: [{name: u, user: {}}]\n"
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        for key in NODE_ENV_KEYS:  # endpoints the step passes on: none here, whatever ran before
            monkeypatch.delenv(key, raising=False)
        for key, value in {
            "GEOVR_IMAGE": "registry/geovr:1",
            "GEOVR_NAMESPACE": NS,
            "GEOVR_TRAIN_PVC": "geovr-train",
            "GEOVR_TRAIN_MOUNT": str(tmp_path),
            "GEOVR_S3_SECRET": "geovr-s3-credentials",
        }.items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "run"
        with pytest.raises(TrainJobFailed, match="PodFailed: node 1 OOMKilled"):
            run_training(
                str(clips), str(targets), out, nproc=8, num_nodes=2, steps=5, kfp_run_id="run-7"
            )
        manifest = next(iter(api.jobs.values()))
    trainer = manifest["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"], trainer["image"]) == (
        2,
        8,
        "registry/geovr:1",
    )
    command = trainer["command"]
    assert command[:3] == ["torchrun", "-m", "geovr.train.worker"]
    assert command[command.index("--task-config") + 1] == str(out.resolve() / "task.json")
    assert command[command.index("--steps") + 1] == "5" and (out / "task.json").is_file()
    pod = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"
    ][0]
    volumes = pod["template"]["spec"]["template"]["spec"]["volumes"]
    assert volumes == [
        {"name": "geovr-train", "persistentVolumeClaim": {"claimName": "geovr-train"}}
    ]
    assert manifest["metadata"]["labels"] == {"geovr.io/kfp-run-id": "run-7"}
    assert {e["name"] for e in trainer["env"]} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_trainjob_launch_outside_the_shared_volume_is_refused(geovr_data, tmp_path, monkeypatch):
    from geovr.train.run import run_training

    clips, targets = geovr_data
    for key, value in {
        "GEOVR_IMAGE": "i",
        "GEOVR_NAMESPACE": NS,
        "GEOVR_TRAIN_PVC": "p",
        "GEOVR_TRAIN_MOUNT": "/mnt/geovr-train",
    }.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(GeoVRError, match="not on the shared training volume /mnt/geovr-train"):
        run_training(str(clips), str(targets), tmp_path / "run", launcher="trainjob", steps=1)
