"""Loading one model version from disk: its artifact verified and deserialized, its metadata
read or inferred from the estimator, and its runtime built.

This is the only module that knows about joblib, pickle and skops.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.base import is_classifier

from app.core.batching import BatchSettings, parse_settings
from app.core.runtime import Runtime, public_failure
from app.storage.errors import LoadError
from app.storage.layout import METADATA_FILE
from app.storage.repository import Repository


def open_version(repository: Repository, directory: Path, name: str, version: int, trusted_types: list[str]) -> Runtime:
    """Load one version directory: verify, deserialize, and build its runtime.

    Only files that resolve inside the repository are read, and ``model.json`` is checked for
    the shape this module reads before anything uses it. The artifact is read once, from one open
    (``Repository.read_artifact``): the bytes hashed are the bytes loaded, so a file swapped in
    meanwhile cannot load under the hash of the one it replaced.
    """
    where = repository.relative(directory)
    repository.inside(directory)
    artifact = repository.find_artifact(directory)
    if artifact is None:
        raise LoadError(f"no model.joblib, model.pkl or model.skops in {where}")
    data = repository.read_artifact(artifact)
    metadata = repository.read_metadata(directory)
    expected = None if metadata is None else metadata.get("sha256")
    actual = hashlib.sha256(data).hexdigest() if metadata is None or expected else None
    if expected and actual != expected:
        raise LoadError(
            f"{where}/{artifact.name} has sha256 {actual} but {METADATA_FILE} expects {expected}; "
            "the file is corrupt or was replaced: restore it or retrain the version"
        )
    estimator = load_estimator(data, f"{where}/{artifact.name}", trusted_types)
    if metadata is None:
        metadata = infer_metadata(estimator, name, version, artifact)
        metadata["sha256"] = actual
        metadata["framework_version"] = sklearn.__version__
    else:
        metadata = {**metadata, "name": name, "version": version}
        try:
            parse_settings(metadata.get("batching", {}), BatchSettings())
        except ValueError as exc:
            raise LoadError(f"{where}/{METADATA_FILE}: {exc}") from None
    return Runtime(estimator, metadata)


def load_estimator(data: bytes, where: str, trusted_types: list[str]) -> Any:
    """Deserialize the bytes of the artifact ``where`` (its repository path); skops files only with
    types skops trusts or the operator allowed."""
    name = Path(where).name
    try:
        if not data:
            raise LoadError(f"{name} is empty; copy the artifact into the version directory again")
        if name.endswith(".skops"):
            return _load_skops(data, name, trusted_types)
        if name.endswith(".pkl"):
            return pickle.loads(data)
        return joblib.load(io.BytesIO(data))
    except LoadError:
        raise
    except Exception as exc:  # a truncated or foreign file can raise almost anything
        raise LoadError(f"cannot read {name}: {public_failure(exc, f'Reading {where}')}") from exc


def _load_skops(data: bytes, name: str, trusted_types: list[str]) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    refused = sorted(set(untrusted) - set(trusted_types))
    if refused:
        raise LoadError(
            f"{name} contains types skops does not trust: {', '.join(refused)}. "
            "If you trust this file, add them to SKOPS_TRUSTED_TYPES (comma-separated in "
            "MODELHOST_SKOPS_TRUSTED_TYPES) and restart"
        )
    return sio.loads(data, trusted=untrusted)


def infer_metadata(estimator: Any, name: str, version: int, artifact: Path) -> dict[str, Any]:
    """Metadata for a dropped-in artifact without ``model.json``, read off the estimator."""
    if not hasattr(estimator, "predict"):
        raise LoadError(f"{artifact.name} holds a {type(estimator).__name__}, which has no predict()")
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
    else:
        count = getattr(estimator, "n_features_in_", None)
        if count is None:
            raise LoadError(f"{artifact.name}: the estimator is not fitted (no n_features_in_)")
        names = [f"x_{i}" for i in range(int(count))]
    categories = _categorical_columns(estimator)
    inferred = []
    for feature in names:
        if feature in categories:
            inferred.append({"name": feature, "type": "string", "enum": categories[feature]})
        else:
            inferred.append({"name": feature, "type": "number"})
    task = "classification" if is_classifier(estimator) else "regression"
    target: dict[str, Any] = {"name": "target"}
    if task == "classification":
        target["classes"] = np.asarray(estimator.classes_).tolist()
    return {
        "name": name,
        "version": version,
        "task": task,
        "framework": "scikit-learn",
        "framework_version": None,
        "estimator": type(estimator).__name__,
        "artifact": artifact.name,
        "sha256": None,
        "features": inferred,
        "target": target,
        "metrics": {},
        "created_at": None,
        "inferred": True,
    }


def _categorical_columns(estimator: Any) -> dict[str, list[Any]]:
    """Columns a pipeline one-hot or ordinal encodes, with their categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    found: dict[str, list[Any]] = {}
    steps = estimator.steps if isinstance(estimator, Pipeline) else [(None, estimator)]
    for _, step in steps:
        if not isinstance(step, ColumnTransformer):
            continue
        for _, transformer, columns in step.transformers_:
            encoders = transformer.steps if isinstance(transformer, Pipeline) else [(None, transformer)]
            for _, encoder in encoders:
                if isinstance(encoder, (OneHotEncoder, OrdinalEncoder)) and isinstance(columns, list):
                    for column, cats in zip(columns, encoder.categories_, strict=False):
                        found[str(column)] = [c for c in np.asarray(cats).tolist() if c == c]
    return found
