"""The inference service: validate, batch, predict and record, for every caller alike.

The ``/v1`` API (JSON, form and CSV bodies), the prediction form and CSV upload pages, and
any later protocol hand it decoded input and get back JSON-native results. It knows nothing
of HTTP: what it needs of the request (the state the access log and metrics read) is passed
in. Each loaded model version gets one :class:`~app.core.batching.Batcher`, which merges
concurrent requests into shared predict calls.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from app.core import scoring
from app.core.batching import Batcher, BatchSettings, parse_settings
from app.core.codecs.csvfile import CsvLimits
from app.core.codecs.jsonbody import Decoded, decode_json
from app.core.errors import InvalidInput, UnusableOutput
from app.core.registry import ModelVersion
from app.core.requeststate import RequestState
from app.core.runtime import Runtime
from app.core.schema import Batch
from app.core.telemetry import BATCH_ROWS, INSTANCES, QUEUE_WAIT


@dataclass
class Prediction:
    """What one request's rows came out as, ready to be shaped into a response."""

    model: str
    version: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    #: The request was one instance (answered as ``prediction``, not ``predictions``).
    single: bool
    ids: list[Any] | None


@dataclass
class ArrayPrediction:
    """What one request's rows came out as, as the estimator answered them (for tensor protocols)."""

    runtime: Runtime
    predictions: np.ndarray
    probabilities: np.ndarray | None


class InferenceService:
    """One predict flow shared by every transport: validation, batching, prediction, metrics."""

    def __init__(self, max_batch_size: int, batching: BatchSettings,
                 per_model: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.batching = batching
        self.per_model = dict(per_model or {})
        self._lock = threading.Lock()

    def settings_for(self, entry: ModelVersion, runtime: Runtime) -> BatchSettings:
        """Batching of one version: the defaults, then its model.json, then the per-model setting."""
        settings = parse_settings(runtime.metadata.get("batching", {}), self.batching)
        return parse_settings(self.per_model.get(entry.name, {}), settings)

    def batcher(self, entry: ModelVersion) -> Batcher:
        """The version's batcher, made on first use; it lives on the entry, so an unloaded version takes it along."""
        batcher = entry.batcher
        if batcher is None:
            runtime = entry.ready_runtime()
            with self._lock:
                batcher = entry.batcher
                if batcher is None:
                    rows = BATCH_ROWS.labels(entry.name, str(entry.version))
                    batcher = entry.batcher = Batcher(runtime, self.settings_for(entry, runtime), on_call=rows.observe)
        return batcher

    def check_probabilities(self, entry: ModelVersion, probabilities: bool) -> None:
        """InvalidInput when probabilities are asked of a model that has none."""
        runtime = entry.ready_runtime()
        if probabilities and not runtime.supports_probabilities:
            raise InvalidInput(f"Model '{entry.name}' is a {runtime.metadata['task']} model without class "
                               "probabilities; leave out ?probabilities=true.")

    def max_json_values(self, entry: ModelVersion) -> int:
        """Most JSON values a request for the version can use: the instance limit times one instance's."""
        # An instance by name holds its features, an id, and its object; the envelope a few more.
        return self.max_batch_size * (len(entry.ready_runtime().schema.names) + 3) + 16

    def decode(self, entry: ModelVersion, raw: bytes, overhead: int = 0) -> Decoded:
        """Decode a JSON body meant for the version, refusing (413) one that holds more values than it can use.

        ``overhead`` is the values a protocol's envelope adds (an OIP tensor's name, datatype and shape).
        """
        return decode_json(raw, self.max_json_values(entry) + overhead)

    def validate(self, entry: ModelVersion, body: Any, numbers_only: bool = False,
                 max_batch: int | None = None) -> Batch:
        """Check a decoded body against the version's schema; InvalidInput lists every violation."""
        limit = self.max_batch_size if max_batch is None else max_batch
        return entry.ready_runtime().schema.parse(body, limit, numbers_only)

    def predict(self, entry: ModelVersion, body: Any, probabilities: bool, state: RequestState,
                numbers_only: bool = False) -> Prediction:
        """Validate a decoded body, then predict it (batched with concurrent requests)."""
        state.use(entry.name, entry.version)
        self.check_probabilities(entry, probabilities)
        return self.predict_batch(entry, self.validate(entry, body, numbers_only), probabilities, state)

    def predict_batch(self, entry: ModelVersion, batch: Batch, probabilities: bool,
                      state: RequestState) -> Prediction:
        """Predict an already validated request, batched with concurrent requests for the version."""
        result = self.predict_arrays(entry, batch, probabilities, state)
        predictions, probs = result.runtime.to_native(result.predictions, result.probabilities)
        return Prediction(entry.name, str(entry.version), predictions, probs, batch.single, batch.ids)

    def predict_arrays(self, entry: ModelVersion, batch: Batch, probabilities: bool, state: RequestState,
                       unusable_path: str | None = None) -> ArrayPrediction:
        """Predict an already validated request, batched with concurrent requests; the results as arrays.

        ``unusable_path`` formats a row's number in the 422 for rows without a usable prediction.
        """
        state.use(entry.name, entry.version)
        runtime = entry.ready_runtime()
        batcher = self.batcher(entry)
        try:
            result = batcher.predict(runtime.matrix(batch), batch.size, probabilities)
        except (ValueError, TypeError) as exc:
            raise runtime.rejected(exc) from None
        QUEUE_WAIT.labels(entry.name, str(entry.version)).observe(result.queue_seconds)
        unusable = runtime.unusable_rows(result.predictions, result.probabilities)
        if unusable:
            path = unusable_path if unusable_path is not None else "" if batch.single else "instances/{}"
            raise UnusableOutput.for_rows(unusable, path)
        self._count(entry, batch.size, state)
        return ArrayPrediction(runtime, result.predictions, result.probabilities)

    def score_csv(self, entry: ModelVersion, stream: IO[bytes], probabilities: bool, limits: CsvLimits,
                  state: RequestState, escape_formulas: bool = False) -> scoring.ScoredFile:
        """Score a CSV file chunk by chunk (chunks are batches of their own, never merged)."""
        state.use(entry.name, entry.version)
        self.check_probabilities(entry, probabilities)
        scored = scoring.score_csv(stream, entry.ready_runtime(), probabilities, limits, escape_formulas)
        self._count(entry, scored.rows, state)
        return scored

    @staticmethod
    def _count(entry: ModelVersion, rows: int, state: RequestState) -> None:
        state.batch_size = rows
        INSTANCES.labels(entry.name, str(entry.version), state.protocol).inc(rows)
