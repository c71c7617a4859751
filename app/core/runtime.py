"""Predicting with one loaded model version (:mod:`app.core.loading` reads it from disk).

The HTTP layer hands it validated columns and gets back JSON-native lists: the estimator's
own types stay here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np
import sklearn

from app.core import features
from app.core.errors import InvalidInput
from app.core.schema import Batch, InputSchema
from app.storage.errors import LoadError, without_server_paths
from app.storage.layout import METADATA_FILE

log = logging.getLogger(__name__)


def public_failure(exc: BaseException, context: str) -> str:
    """``Type: message`` of a library's exception as answers show it, without the server's paths.

    Unpickling errors name modules with the file they came from (the virtualenv, and with it the
    Python version); the log keeps the whole text, with what failed (``context``).
    """
    text = f"{type(exc).__name__}: {exc}"
    shown = without_server_paths(text)
    if shown != text:
        log.error("%s failed: %s", context, text)
    return shown


class Runtime:
    """A loaded estimator with the schema its requests are validated against."""

    def __init__(self, estimator: Any, metadata: dict[str, Any]) -> None:
        self.estimator = estimator
        self.metadata = metadata
        self.schema = InputSchema(metadata["features"])
        self.is_classifier = metadata["task"] == "classification"
        # Pipelines fitted on a DataFrame select columns by name; others take a plain array.
        # pandas is imported for those models only, so a server without them never loads it.
        wants_frame = getattr(estimator, "feature_names_in_", None) is not None
        self._pd = importlib.import_module("pandas") if wants_frame else None
        self._all_numeric = features.all_numeric(metadata["features"])
        self.classes = np.asarray(getattr(estimator, "classes_", [])).tolist() if self.is_classifier else []
        self.supports_probabilities = self.is_classifier and hasattr(estimator, "predict_proba")
        self._labels = [str(c) for c in self.classes]

    def matrix(self, batch: Batch) -> Any:
        """The estimator's input for one validated request: an array, or a DataFrame by column name."""
        if self._pd is not None:
            return self._pd.DataFrame(self._typed_columns(batch.columns), columns=self.schema.names)
        if batch.array is not None:
            return batch.array
        return self._array(batch.columns)

    def _array(self, columns: dict[str, Any]) -> np.ndarray:
        dtype = np.float64 if self._all_numeric else object
        return np.column_stack([np.asarray(columns[name], dtype=dtype) for name in self.schema.names])

    def _typed_columns(self, columns: dict[str, Any]) -> dict[str, Any]:
        # Whole-number features stay integers, as the pipeline saw them in training.
        return {
            f["name"]: _int64(columns[f["name"]])
            if features.type_name(f) == "integer" and isinstance(columns[f["name"]], np.ndarray)
            else columns[f["name"]]
            for f in self.metadata["features"]
        }

    def stack(self, matrices: list[Any]) -> Any:
        """Several requests' inputs as one, rows in order (for a batched call)."""
        if self._pd is not None:
            return self._pd.concat(matrices, ignore_index=True)
        return np.concatenate(matrices)

    def predict_arrays(self, matrix: Any, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """One vectorised call: predictions, and class probabilities when asked for and supported."""
        # The schema has already ruled out NaN and infinities, so scikit-learn's own finiteness
        # scan and parameter checks are skipped (thread-local setting; a third of the latency).
        # Overflow to infinity or NaN is not warned about: unusable_rows() turns it into the client's 422.
        with (
            sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            predictions = np.asarray(self.estimator.predict(matrix))
            probs = None
            if probabilities and self.supports_probabilities:
                probs = np.asarray(self.estimator.predict_proba(matrix), dtype=np.float64)
        return predictions, probs

    def trial(self) -> None:
        """Predict the schema's example instance once; LoadError when the estimator cannot.

        A version is served only after this passes, and it warms the estimator up, so the first
        request pays no lazy imports or caches.
        """
        where = f"model {self.metadata['name']} version {self.metadata['version']}"
        try:
            batch = self.schema.parse(self.schema.example(), 1)
        except InvalidInput as exc:
            raise LoadError(
                f"the example instance of {where} is not valid input ({exc.detail}); fix the features' "
                f"'example' values in {METADATA_FILE}"
            ) from None
        try:
            predictions, _ = self.predict_arrays(self.matrix(batch), self.supports_probabilities)
        except Exception as exc:  # noqa: BLE001 - any failure means the version cannot serve
            raise LoadError(
                f"a trial prediction of the example instance failed "
                f"({public_failure(exc, f'The trial prediction of {where}')}); "
                f"the estimator does not take the input {METADATA_FILE} describes"
            ) from None
        if len(predictions) != 1:
            raise LoadError(
                f"a trial prediction of one instance returned {len(predictions)} predictions; "
                "the artifact is not an estimator modelhost can serve"
            )

    def unusable_rows(self, predictions: np.ndarray, probs: np.ndarray | None) -> list[int]:
        """Rows whose prediction or probabilities are NaN or infinite (no answer a client can use)."""
        if probs is None and predictions.dtype.kind not in "fc":
            return []  # class labels: nothing to check
        bad = np.zeros(len(predictions), dtype=bool)
        if predictions.dtype.kind in "fc":
            bad |= ~np.isfinite(predictions).reshape(len(predictions), -1).all(axis=1)
        if probs is not None:
            bad |= ~np.isfinite(probs).all(axis=1)
        return np.flatnonzero(bad).tolist()

    def to_native(
        self, predictions: np.ndarray, probs: np.ndarray | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        """Predictions as JSON natives, probabilities as one ``{label: p}`` per row."""
        if probs is None:
            return predictions.tolist(), None
        labels = self._labels
        return predictions.tolist(), [dict(zip(labels, row, strict=True)) for row in probs.tolist()]

    def rejected(self, exc: Exception) -> InvalidInput:
        """The client's error for input the estimator refused (what the schema cannot rule out)."""
        log.warning("Model %s v%s rejected the input: %s", self.metadata["name"], self.metadata["version"], exc)
        return InvalidInput(f"The model rejected the input: {without_server_paths(str(exc))}")

    def predict(self, columns: dict[str, Any], probabilities: bool) -> tuple[list[Any], list[dict[str, float]] | None]:
        """Predict validated feature columns in one unbatched call, as JSON values (tools and checks).

        Requests predict through ``app.core.dataplane``, which batches them and turns a rejected
        input or an unusable output into the client's error.
        """
        size = len(next(iter(columns.values()))) if columns else 0
        matrix = self.matrix(Batch(columns, size, single=False, ids=None))
        return self.to_native(*self.predict_arrays(matrix, probabilities))


def _int64(values: np.ndarray) -> np.ndarray:
    """Validated whole numbers as int64; +-(2^63 - 1) sent as JSON numbers arrive as the doubles +-2^63."""
    if values.dtype.kind != "f":
        return np.asarray(values, dtype=np.int64)
    top, bottom = values >= 2.0**63, values <= -(2.0**63)
    whole = np.where(top | bottom, 0.0, values).astype(np.int64)
    whole[top], whole[bottom] = 2**63 - 1, -(2**63 - 1)
    return whole
