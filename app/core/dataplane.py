"""The dataplane: every protocol's predictions, through one path of validation, batching and metrics.

Each transport reads what its request carries and makes one call here: :meth:`DataPlane.predict_v1`
(modelhost's JSON and form bodies, and the prediction form), :meth:`~DataPlane.predict_kserve`
(KServe V1 / TF Serving), :meth:`~DataPlane.infer_v2` (the Open Inference Protocol, JSON or
binary) or :meth:`~DataPlane.score_csv`. A codec (``app.core.codecs``) turns the payload into the
model's validated batch, with errors in the protocol's terms; :meth:`~DataPlane.predict` runs it
through the version's :class:`~app.core.batching.Batcher` and turns a rejected input or an
unusable output into the client's error, naming rows as the protocol does. Nothing here knows HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from app.core import scoring
from app.core.batching import Batcher, BatchSettings, parse_settings
from app.core.codecs import binary, kserve, oip, oipmodel, v1
from app.core.codecs.csvfile import CsvLimits
from app.core.errors import InvalidInput, UnusableOutput
from app.core.registry import ModelRegistry
from app.core.requeststate import RequestState
from app.core.runtime import Runtime
from app.core.schema import Batch
from app.core.telemetry import BATCH_ROWS, INSTANCES, QUEUE_WAIT
from app.core.versions import ModelVersion


@dataclass(frozen=True)
class Rows:
    """How a protocol names the rows of a request when the model cannot answer some of them."""

    #: The error path of a row, formatted with the row's number.
    path: str = "instances/{}"
    noun: str = "instance"
    #: The number the client knows each row by (a CSV file's line), when it is not its position.
    numbers: Sequence[int] | None = None
    #: Where the rows are, for input the model rejected as a whole (``lines 2-1001``).
    where: str | None = None


@dataclass(frozen=True)
class Predicted:
    """One request's results as the estimator answered them, for the codec to shape."""

    runtime: Runtime
    predictions: np.ndarray
    probabilities: np.ndarray | None


class DataPlane:
    """Predictions for every protocol: one validation, batching, prediction and metrics path."""

    def __init__(
        self,
        registry: ModelRegistry,
        max_batch_size: int,
        batching: BatchSettings,
        per_model: Mapping[str, Mapping[str, Any]] | None,
        csv_limits: CsvLimits,
    ) -> None:
        self.registry = registry
        self.max_batch_size = max_batch_size
        self.batching = batching
        self.per_model = dict(per_model or {})
        self.csv_limits = csv_limits
        self._lock = threading.Lock()

    # --- which version answers ------------------------------------------------------------------

    def serving(
        self, state: RequestState, name: str, version: str | None = None, label: str | None = None
    ) -> ModelVersion:
        """The version a request is for (the canary takes its share of the default route), ready to predict.

        ModelNotFound for an unknown model, version or label; ModelNotReady for a version that failed
        to load, before anything of the request is read.
        """
        registry = self.registry
        if label is not None:
            entry = registry.labelled(name, label)
        else:
            entry = registry.route(name) if version is None else registry.get(name, version)
        state.use(entry.name, entry.version)
        entry.ready_runtime()
        return entry

    # --- the protocols ----------------------------------------------------------------------------

    def predict_v1(
        self,
        entry: ModelVersion,
        state: RequestState,
        probabilities: bool,
        *,
        raw: bytes | None = None,
        form: Mapping[str, list[str]] | None = None,
        max_batch: int | None = None,
    ) -> v1.Answer:
        """A /v1 JSON body (``raw``) or form (``form``, every value of each field) predicted."""
        runtime = entry.ready_runtime()
        limit = self.max_batch_size if max_batch is None else max_batch
        if form is not None:
            decoded = v1.decode_form(form, runtime.schema)
        elif raw is not None:
            decoded = v1.decode(raw, runtime.schema, limit)
        else:
            raise TypeError("predict_v1 takes the body (raw) or the form")
        self.check_probabilities(entry, probabilities)
        batch = runtime.schema.parse(decoded.body, limit, decoded.numbers_only)
        result = self.predict(entry, batch, probabilities, Rows(v1.row_path(batch)))
        self.count(entry, batch.size, state)
        return v1.answer(entry.name, entry.version, batch, runtime, result.predictions, result.probabilities)

    def predict_kserve(self, entry: ModelVersion, state: RequestState, raw: bytes) -> list[Any]:
        """A KServe V1 / TF Serving body predicted: the predictions, in order."""
        runtime = entry.ready_runtime()
        decoded = v1.decode(raw, runtime.schema, self.max_batch_size)
        kserve.check_envelope(decoded.body)
        batch = runtime.schema.parse(decoded.body, self.max_batch_size, decoded.numbers_only)
        result = self.predict(entry, batch, False, Rows(v1.row_path(batch)))
        self.count(entry, batch.size, state)
        return runtime.to_native(result.predictions, None)[0]

    def infer_v2(
        self, entry: ModelVersion, state: RequestState, raw: bytes, header_length: str | None
    ) -> tuple[dict[str, Any], bytes]:
        """An Open Inference Protocol request predicted: the answer's JSON part and the binary data after it."""
        runtime = entry.ready_runtime()
        request = oip.read_request(raw, header_length, runtime.schema, self.max_batch_size)
        requested = oipmodel.requested_outputs(request.body, runtime, entry.name)
        batch = oip.to_batch(runtime.schema, request.inputs, self.max_batch_size)
        probabilities = any(name == oipmodel.PROBABILITIES for name, _ in requested)
        result = self.predict(entry, batch, probabilities, Rows("rows/{}"))
        self.count(entry, batch.size, state)
        head: dict[str, Any] = {"model_name": entry.name, "model_version": str(entry.version)}
        if "id" in request.body:
            head["id"] = request.body["id"]
        return binary.encode_answer(
            head, oipmodel.outputs(runtime, requested, result.predictions, result.probabilities)
        )

    def score_csv(
        self,
        entry: ModelVersion,
        state: RequestState,
        stream: IO[bytes],
        probabilities: bool,
        escape_formulas: bool = False,
    ) -> scoring.ScoredFile:
        """Score a CSV file chunk by chunk, each chunk predicted as any request is."""
        runtime = entry.ready_runtime()
        self.check_probabilities(entry, probabilities)

        def predict(batch: Batch, lines: Sequence[int]) -> tuple[list[Any], list[dict[str, float]] | None]:
            rows = Rows("line {}", "line", lines, f"lines {lines[0]}-{lines[-1]}")
            result = self.predict(entry, batch, probabilities, rows)
            return runtime.to_native(result.predictions, result.probabilities)

        scored = scoring.score_csv(stream, runtime, probabilities, self.csv_limits, predict, escape_formulas)
        self.count(entry, scored.rows, state)
        return scored

    # --- the one path -----------------------------------------------------------------------------

    def check_probabilities(self, entry: ModelVersion, probabilities: bool) -> None:
        """InvalidInput when probabilities are asked of a model that has none."""
        runtime = entry.ready_runtime()
        if probabilities and not runtime.supports_probabilities:
            raise InvalidInput(
                f"Model '{entry.name}' is a {runtime.metadata['task']} model without class "
                "probabilities; leave out ?probabilities=true."
            )

    def predict(self, entry: ModelVersion, batch: Batch, probabilities: bool, rows: Rows) -> Predicted:
        """Predict a validated batch with concurrent requests for the version; the client's error for
        input the model rejects or rows it has no usable answer for, named as ``rows`` says."""
        runtime = entry.ready_runtime()
        try:
            result = self.batcher(entry).predict(runtime.matrix(batch), batch.size, probabilities)
        except (ValueError, TypeError) as exc:
            rejected = runtime.rejected(exc)
            if rows.where is None:
                raise rejected from None
            raise InvalidInput(
                f"{rejected.detail} (in {rows.where} of the file)",
                errors=[{"path": rows.where, "message": rejected.detail}],
            ) from None
        QUEUE_WAIT.labels(entry.name, str(entry.version)).observe(result.queue_seconds)
        unusable = runtime.unusable_rows(result.predictions, result.probabilities)
        if unusable:
            numbers = unusable if rows.numbers is None else [rows.numbers[r] for r in unusable]
            raise UnusableOutput.for_rows(numbers, rows.path, noun=rows.noun)
        return Predicted(runtime, result.predictions, result.probabilities)

    def batcher(self, entry: ModelVersion) -> Batcher:
        """The version's batcher, made on first use; it lives on the entry, so an unloaded version takes it along."""
        batcher = entry.batcher
        if batcher is None:
            runtime = entry.ready_runtime()
            with self._lock:
                batcher = entry.batcher
                if batcher is None:
                    settings = parse_settings(runtime.metadata.get("batching", {}), self.batching)
                    settings = parse_settings(self.per_model.get(entry.name, {}), settings)
                    rows = BATCH_ROWS.labels(entry.name, str(entry.version))
                    batcher = entry.batcher = Batcher(runtime, settings, on_call=rows.observe)
        return batcher

    @staticmethod
    def count(entry: ModelVersion, rows: int, state: RequestState) -> None:
        """Count a request's predicted rows, for its access line and the metrics."""
        state.batch_size = rows
        INSTANCES.labels(entry.name, str(entry.version), state.protocol).inc(rows)
