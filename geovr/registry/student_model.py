"""The MLflow pyfunc that serves a registered GeoVR student ("models from code").

MLflow copies this file into every logged model and runs it at load time, so it never imports
`geovr`: the preprocessing it shares with evaluation (geovr/model/clip_inputs.py and its two
siblings) is logged beside it as `code_paths`, and MLflow puts those files on the path. MLflow
also runs this file when the model is logged, so torch and transformers are imported only when
a model is loaded: registering stays a light process. The artifact `checkpoint` is the Hugging
Face directory exactly as training wrote it; its meta.json records how training sampled videos.

    model = mlflow.pyfunc.load_model("models:/geovr-student@champion")
    model.predict([{"video": "s3://bucket/clip.mp4",
                    "question": "How many chairs are in this room?"}])
    model.predict([{"video_b64": b64, "question": "Which is closer to the sofa?",
                    "options": ["A. bed", "B. tv"]}], params={"max_new_tokens": 16})

Each record: `question`, optional `options` (the choice list as in qa.jsonl), and the video as
`video` (a local path, file://, s3:// or http(s):// URI, read with fsspec), `video_b64`
(base64 bytes of the file), or `frames` (already sampled `[F,H,W,3]` uint8, optional
`timestamps` in s); no video: the question alone. A video is sampled, resized and prompted
exactly as for training and evaluation. Output: one answer string per record. A bad record
raises MlflowException(INVALID_PARAMETER_VALUE): `mlflow models serve` answers 400 with the
one-line reason, which never repeats the request.

Behind `mlflow models serve` a local path (or file://) is read only under the directories
listed in GEOVR_SERVED_VIDEO_ROOTS (os.pathsep-separated; none by default), and an s3:// or
http(s):// video only under the URL prefixes listed in GEOVR_SERVED_VIDEO_URLS (space-separated,
e.g. "s3://videos/ https://cdn.example/clips/"; none by default): the server fetches for remote
clients, with its own credentials and from inside the cluster. A model loaded in-process reads
any video its caller can.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
from typing import Any
from urllib.parse import unquote, urlsplit

import mlflow
import numpy as np
from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

VIDEO_FIELDS = ("video", "video_b64", "frames")
DEFAULT_PARAMS = {"max_new_tokens": 16, "do_sample": False, "temperature": 1.0, "top_p": 1.0}
SERVED_SCHEMES = ("", "file", "s3", "http", "https")
VIDEO_ROOTS_ENV = "GEOVR_SERVED_VIDEO_ROOTS"
VIDEO_URLS_ENV = "GEOVR_SERVED_VIDEO_URLS"
QUOTED_CHARS = 120  # of a URI quoted in an error: enough to recognise it, never a payload

logger = logging.getLogger(__name__)


class OneLineError(MlflowException):
    """An error whose message stays the one-line reason. MLflow's scoring server rewrites the
    message of any MlflowException out of `predict` to "Failed to predict data '<the whole
    request>'. \nError: <reason>" (mlflow.pyfunc.scoring_server.invocations): two lines that
    echo every frame or base64 byte sent. Assigning `message` therefore keeps the reason."""

    def __init__(self, reason: str, error_code: int = INTERNAL_ERROR) -> None:
        self._reason = reason
        super().__init__(reason, error_code=error_code)

    @property
    def message(self) -> str:
        return self._reason

    @message.setter
    def message(self, _rewritten: str) -> None:
        pass  # the server's wrapper (see the class docstring); the reason is the whole answer


class BadRequest(OneLineError):
    """A record the model cannot answer (HTTP 400); its message is the one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, error_code=INVALID_PARAMETER_VALUE)


def _quoted(value: str) -> str:
    return repr(value if len(value) <= QUOTED_CHARS else value[:QUOTED_CHARS] + "...")


def load_student(checkpoint_dir: str) -> tuple[Any, Any]:
    """(model, processor) of a Hugging Face directory with plain `from_pretrained`."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(checkpoint_dir)
    architecture = (config.architectures or ["AutoModelForCausalLM"])[0]
    import torch

    model = getattr(transformers, architecture).from_pretrained(checkpoint_dir)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    try:
        processor = transformers.AutoProcessor.from_pretrained(checkpoint_dir)
    except (OSError, ValueError):
        # A text-only student has a tokenizer and no processor config.
        processor = transformers.AutoTokenizer.from_pretrained(checkpoint_dir)
    return model, processor


def _given(value: Any) -> bool:
    # A record read from a DataFrame has None or NaN where a column was left out.
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _records(model_input: Any) -> list[dict[str, Any]]:
    rows = model_input.to_dict(orient="records") if hasattr(model_input, "to_dict") else model_input
    # A request whose records name no known column reaches here as no rows at all.
    if not rows or not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadRequest("send a list of records, each with a question")
    return [{k: v for k, v in row.items() if _given(v)} for row in rows]


def _check_video_uri(uri: str) -> None:
    """Refuse what the server must not read: other fsspec protocols (ftp, memory, chained
    `a::b` URLs, ...), and when serving: local files outside GEOVR_SERVED_VIDEO_ROOTS, remote
    ones outside the GEOVR_SERVED_VIDEO_URLS prefixes."""
    scheme = urlsplit(uri).scheme.lower()
    if "::" in uri or scheme not in SERVED_SCHEMES:
        raise BadRequest(f"video {_quoted(uri)}: send a local path, s3:// or http(s):// URL")
    if _MLFLOW_IS_IN_SERVING_ENVIRONMENT.get() is not True:
        return
    if scheme in ("s3", "http", "https"):
        _check_remote_prefix(uri)
        return
    path = os.path.realpath(unquote(urlsplit(uri).path) if scheme == "file" else uri)
    roots = [
        os.path.realpath(r) for r in os.environ.get(VIDEO_ROOTS_ENV, "").split(os.pathsep) if r
    ]
    if not any(os.path.commonpath([path, root]) == root for root in roots):
        raise BadRequest(
            f"video {_quoted(uri)} is outside the served video roots ({VIDEO_ROOTS_ENV})"
        )


def _check_remote_prefix(uri: str) -> None:
    # prefixes end at a "/" so s3://videos/ does not admit s3://videos-private/; a ".." segment
    # could climb out of a prefix where the far side normalises the path
    prefixes = [
        p if p.endswith("/") else f"{p}/" for p in os.environ.get(VIDEO_URLS_ENV, "").split()
    ]
    climbs = ".." in unquote(urlsplit(uri).path).split("/")
    if climbs or not any(uri.startswith(prefix) for prefix in prefixes):
        raise BadRequest(
            f"video {_quoted(uri)} is outside the served video URLs ({VIDEO_URLS_ENV})"
        )


def _open_video(uri: str):
    import fsspec

    _check_video_uri(uri)
    try:
        return fsspec.open(uri, "rb").open()
    except FileNotFoundError as e:
        raise BadRequest(f"video {_quoted(uri)} does not exist") from e
    except (OSError, ValueError, ImportError) as e:
        raise BadRequest(f"video {_quoted(uri)} cannot be read: {_one_line(e)}") from e


def _one_line(error: BaseException) -> str:
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0][:QUOTED_CHARS] if first else ''}"


def _video_bytes(record: dict[str, Any]):
    import io

    if "video_b64" in record:
        try:
            return io.BytesIO(base64.b64decode(str(record["video_b64"]), validate=True))
        except (binascii.Error, ValueError) as e:
            raise BadRequest(f"video_b64 is not base64: {e}") from e
    if not isinstance(record["video"], str):
        raise BadRequest("video must be a path or URL string")
    return _open_video(record["video"])


def _options(options: Any) -> list[str] | None:
    if options is None:
        return None
    if not isinstance(options, (list, tuple, np.ndarray)) or not all(
        isinstance(o, str) for o in options
    ):
        raise BadRequest("options must be a list of strings")
    return [str(o) for o in options]


def _timestamps(times: Any) -> list[float] | None:
    if times is None:
        return None
    try:
        return [float(t) for t in times]
    except (TypeError, ValueError) as e:
        raise BadRequest("timestamps must be a list of seconds") from e


class GeoVRStudent(PythonModel):
    """Question (+ video) in, generated answer out."""

    def load_context(self, context: Any) -> None:
        import clip_inputs  # logged with the model (code_paths)

        self.clip_inputs = clip_inputs
        checkpoint = context.artifacts["checkpoint"]
        self.model, self.processor = load_student(checkpoint)
        self.preprocessing = clip_inputs.Preprocessing.from_checkpoint(checkpoint)

    def _sampled(self, record: dict[str, Any]) -> tuple[np.ndarray, list[float]]:
        """The frames and times training would have used for the record's video file."""
        if self.preprocessing is None:
            raise BadRequest("this checkpoint records no sampling rule: send decoded frames")
        try:
            with _video_bytes(record) as source:
                frames, fps = self.clip_inputs.read_video(source)
            return self.preprocessing.sample(frames, fps)[:2]
        except BadRequest:
            raise
        except Exception as e:  # noqa: BLE001 - PyAV raises many types for a bad file
            raise BadRequest(f"not a readable video: {_one_line(e)}") from e

    def _clip(self, record: dict[str, Any]) -> tuple[np.ndarray | None, list[float] | None]:
        given = [field for field in VIDEO_FIELDS if field in record]
        if len(given) > 1:
            raise BadRequest(f"send one of {', '.join(VIDEO_FIELDS)}, not {' and '.join(given)}")
        if not given:
            return None, None
        if given[0] != "frames":
            return self._sampled(record)
        frames = np.asarray(record["frames"])
        numeric = np.issubdtype(frames.dtype, np.number) and frames.size > 0
        if (
            frames.ndim != 4
            or frames.shape[-1] != 3
            or not numeric
            or frames.min() < 0
            or frames.max() > 255
        ):
            raise BadRequest(f"frames must be [F,H,W,3] values 0-255, got shape {frames.shape}")
        return frames.astype(np.uint8), _timestamps(record.get("timestamps"))

    def inputs(self, record: dict[str, Any]) -> dict[str, Any]:
        """The processor's tensors for one record (what `generate` gets)."""
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise BadRequest("each record needs a non-empty question")
        qa = {"question": question, "options": _options(record.get("options"))}
        frames, times = self._clip(record)
        if frames is not None and not hasattr(self.processor, "video_processor"):
            raise BadRequest("this student has no video processor: send the question alone")
        max_side = self.preprocessing.max_side if self.preprocessing else None
        try:
            return self.clip_inputs.question_inputs(self.processor, qa, frames, times, max_side)
        except ValueError as e:  # e.g. timestamps that do not match the frames
            raise BadRequest(str(e)) from e

    def _answer(self, record: dict[str, Any], params: dict[str, Any]) -> str:
        import torch

        inputs = {k: v.to(self.model.device) for k, v in self.inputs(record).items()}
        sampling = {"temperature": params["temperature"], "top_p": params["top_p"]}
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=int(params["max_new_tokens"]),
                do_sample=bool(params["do_sample"]),
                **(sampling if params["do_sample"] else {}),
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]

    # model_input has no type hint: MLflow would read one as the request schema, which the
    # logged signature (geovr/registry/serving.py) gives with named, typed columns.
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> list[str]:
        settings = {**DEFAULT_PARAMS, **(params or {})}
        if int(settings["max_new_tokens"]) < 1:
            raise BadRequest("max_new_tokens must be at least 1")
        try:
            return [self._answer(record, settings) for record in _records(model_input)]
        except OneLineError:
            raise
        except Exception as e:
            # Otherwise the server answers its own message with the traceback in the body.
            logger.exception("the student failed on a request")
            raise OneLineError(f"the model failed: {_one_line(e)}") from e


mlflow.models.set_model(GeoVRStudent())
