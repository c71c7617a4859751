"""Fixtures of the HTTP tests: Open Inference Protocol inputs as tritonclient builds them."""
from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton


@pytest.fixture
def numpy_inputs(iris_features):
    """Factory: one tritonclient input per iris feature, holding its column of ``rows``."""
    def make(rows, binary_data=True, datatype="FP64"):
        inputs = []
        for name, column in zip(iris_features, np.array(rows).T, strict=True):
            tensor = triton.InferInput(name, [len(rows)], datatype)
            tensor.set_data_from_numpy(column.astype(np.float64 if datatype == "FP64" else np.float32),
                                       binary_data=binary_data)
            inputs.append(tensor)
        return inputs
    return make
