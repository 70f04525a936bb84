# GeoVR pipeline. The two commands a new user needs:
#   make run    the whole pipeline on the embedded default (no cluster, no GPU)
#   make test   lint + the test suite (make test-fast: lint + the unit tier, a few minutes)
# Both create .venv on first use and are idempotent.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geovr-installed
# The torch pair that imports with torchvision here (a CUDA build that also runs on CPU).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
# pytest-xdist workers: the suite is mostly one process at a time, so two use both cores
# (1.59x faster on 2 cores; each worker starts its own session servers; 0: one process).
TEST_WORKERS ?= 2

# Cluster targets (need Docker / a Kubeflow Pipelines endpoint; see README "On a cluster").
IMAGE         ?= ghcr.io/geovr/geovr
IMAGE_TAG     ?= 0.1.0
TORCH_VARIANT ?= cu130
KFP_HOST      ?= $(KF_PIPELINES_ENDPOINT)
NAMESPACE     ?= kubeflow-user-geovr
DATA_REPO     ?=
CRON          ?= 0 0 3 * * 1
PARAMS        ?=
PIPELINE_YAML ?= runs/geovr_pipeline.yaml
# What `make image` pushed, by digest (REPO@sha256:...); `make compile` compiles against it.
IMAGE_REF_FILE ?= runs/image.ref
# the digest `make image` recorded; used only while it names $(IMAGE) (another IMAGE= wins)
IMAGE_REF      ?= $(shell cat $(IMAGE_REF_FILE) 2>/dev/null)
ALLOW_TAG_IMAGE ?=
KFP_TARGET     = --host $(KFP_HOST) --namespace $(NAMESPACE)
RUN_PARAMS     = $(if $(DATA_REPO),--param data_repo=$(DATA_REPO)) $(foreach p,$(PARAMS),--param $(p))

.PHONY: install run test test-fast lint bench clean image compile upload submit schedule

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/geovr pipeline run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The unit tier: no test marked slow (over ~5 s) or integration (servers, subprocesses).
test-fast: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow and not integration" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# Build and push the component image and record its digest, then compile the pipeline against
# that digest (a release refuses a tag-only image: ALLOW_TAG_IMAGE=1 ships $(IMAGE):$(IMAGE_TAG)).
image:
	docker build -f docker/Dockerfile --build-arg TORCH_VARIANT=$(TORCH_VARIANT) -t $(IMAGE):$(IMAGE_TAG) .
	docker push $(IMAGE):$(IMAGE_TAG)
	mkdir -p $(dir $(IMAGE_REF_FILE))
	docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' $(IMAGE):$(IMAGE_TAG) | grep -m1 '^$(IMAGE)@sha256:' > $(IMAGE_REF_FILE)
	cat $(IMAGE_REF_FILE)

compile: $(STAMP)
	$(BIN)/geovr pipeline compile --release $(if $(ALLOW_TAG_IMAGE),--allow-tag-image) --image $(or $(filter $(IMAGE)@sha256:%,$(IMAGE_REF)),$(IMAGE):$(IMAGE_TAG)) --out $(PIPELINE_YAML)

upload: compile
	$(BIN)/geovr pipeline upload $(KFP_TARGET) --package $(PIPELINE_YAML)

submit: $(STAMP)
	$(BIN)/geovr pipeline submit $(KFP_TARGET) $(RUN_PARAMS)

schedule: $(STAMP)
	$(BIN)/geovr pipeline schedule $(KFP_TARGET) --cron "$(CRON)" $(RUN_PARAMS)

clean:
	rm -rf runs mlruns mlartifacts mlflow.db .pytest_cache .ruff_cache
