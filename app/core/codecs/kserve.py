"""KServe V1 and TF Serving's REST predict bodies: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out.

The instances are rows in the model's feature order or objects with features by name, checked
as /v1 checks them. Not supported: ``signature_name`` (a scikit-learn model has one signature)
and TF Serving's columnar ``inputs``; a request with either says what to send instead.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import InvalidInput

#: Members of a TF Serving request that modelhost does not take, and what to send instead.
_UNSUPPORTED = {
    "signature_name": "a scikit-learn model has one signature: leave signature_name out",
    "inputs": "the columnar 'inputs' format is not supported: send the rows as 'instances'",
}


def check_envelope(body: Any) -> None:
    """InvalidInput unless the body is ``{"instances": [...]}``; names what to send instead."""
    if not isinstance(body, dict) or "instances" not in body:
        unsupported = [_UNSUPPORTED[k] for k in _UNSUPPORTED if isinstance(body, dict) and k in body]
        hint = f" ({'; '.join(unsupported)})" if unsupported else ""
        raise InvalidInput(
            'The body must be {"instances": [...]}: rows in the model\'s feature order or objects '
            f"with the features by name{hint}.",
            errors=[{"path": "instances", "message": "is required"}],
        )
    extra = [k for k in body if k != "instances"]
    if extra:
        errors = [{"path": k, "message": _UNSUPPORTED.get(k, "is not a member of a predict request")} for k in extra]
        raise InvalidInput(
            "; ".join(f"{e['path']}: {e['message']}" for e in errors)
            + '. The body is {"instances": [...]} and nothing else.',
            errors=errors,
        )
