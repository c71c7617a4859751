"""A model as the Open Inference Protocol shows it: the tensors its metadata declares, and the
output tensors of its answers.

Its outputs are ``predict`` (the labels or numbers) and, for classifiers with probabilities,
``predict_proba`` (``[-1, n_classes]`` FP64, the class order in its ``parameters.classes``).
A request names the outputs it wants, each as JSON or as binary data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core import features
from app.core.codecs.binary import Output
from app.core.codecs.elements import BYTES, FIXED
from app.core.errors import SEE_V2_OUTPUTS, InvalidInput
from app.core.runtime import Runtime
from app.core.schema import InputSchema

#: The datatypes the metadata declares for the ``[-1, n_features]`` form (any numeric one is taken).
MATRIX_DATATYPES = ("FP64", "FP32", "INT64")
PREDICT, PROBABILITIES = "predict", "predict_proba"


def takes_matrix(schema: InputSchema) -> bool:
    """Whether the model also takes its rows as one ``[-1, n_features]`` tensor."""
    return features.all_numeric(schema.features)


def predict_datatype(runtime: Runtime) -> str:
    """The datatype of ``predict``: BYTES for string classes, BOOL, INT64 or FP64 otherwise."""
    if not runtime.is_classifier:
        return "FP64"
    kinds = {type(c) for c in runtime.classes}
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    return "FP64" if kinds <= {int, float} else BYTES


def tensor_metadata(runtime: Runtime) -> dict[str, Any]:
    """The ``inputs``, ``outputs`` and ``parameters`` of a loaded version's model metadata."""
    schema = runtime.schema
    inputs = [{"name": f["name"], "datatype": features.type_of(f).oip_datatype, "shape": [-1]} for f in schema.features]
    outputs: list[dict[str, Any]] = [{"name": PREDICT, "datatype": predict_datatype(runtime), "shape": [-1]}]
    if runtime.supports_probabilities:
        outputs.append(
            {
                "name": PROBABILITIES,
                "datatype": "FP64",
                "shape": [-1, len(runtime.classes)],
                "parameters": {"classes": runtime.classes},
            }
        )
    parameters: dict[str, Any] = {"task": runtime.metadata["task"]}
    if takes_matrix(schema):
        parameters["matrix_input"] = {
            "shape": [-1, len(schema.names)],
            "datatypes": list(MATRIX_DATATYPES),
            "columns": schema.names,
        }
    return {"inputs": inputs, "outputs": outputs, "parameters": parameters}


def requested_outputs(request: dict[str, Any], runtime: Runtime, model: str) -> list[tuple[str, bool]]:
    """The outputs to compute, in the order asked for, each with whether it goes as binary data."""
    binary = bool((request.get("parameters") or {}).get("binary_data_output", False))
    asked = request.get("outputs")
    if not asked:
        return [(PREDICT, binary)]
    known = [PREDICT, PROBABILITIES] if runtime.supports_probabilities else [PREDICT]
    errors: list[dict[str, str]] = []
    chosen: list[tuple[str, bool]] = []
    for index, output in enumerate(asked):
        name = output["name"]
        if name not in known:
            why = (
                f"model {model!r} has no class probabilities"
                if name == PROBABILITIES
                else f"the outputs are {', '.join(known)}"
            )
            errors.append({"path": f"outputs/{index}/name", "message": f"{name!r} is not an output: {why}"})
        elif name in [c[0] for c in chosen]:
            errors.append({"path": f"outputs/{index}/name", "message": f"{name!r} is asked for twice"})
        else:
            chosen.append((name, bool((output.get("parameters") or {}).get("binary_data", binary))))
    if errors:
        raise InvalidInput(
            "; ".join(f"{e['path']} {e['message']}" for e in errors) + ".", errors=errors, see=SEE_V2_OUTPUTS
        )
    return chosen


def outputs(
    runtime: Runtime, requested: list[tuple[str, bool]], predictions: np.ndarray, probabilities: np.ndarray | None
) -> list[Output]:
    """The answer's output tensors."""
    result = []
    for name, binary in requested:
        if name == PREDICT:
            datatype = predict_datatype(runtime)
            values: Any = predictions.astype(FIXED[datatype]) if datatype != BYTES else predictions
            result.append(Output(name, datatype, values, binary))
        else:
            assert probabilities is not None
            result.append(Output(name, "FP64", probabilities, binary, {"classes": runtime.classes}))
    return result
