"""A model version's request schemas as the API document shows them, in the OpenAPI 3.0 dialect
that the Swagger UI renders, and the pattern of its CSV file.

They are made from the validating schemas of :class:`~app.core.schema.InputSchema`, so a
client (or a fuzzer) that follows the document sends only what the server accepts.
"""

from __future__ import annotations

from typing import Any

from app.core.features import FALSE_WORDS, TRUE_WORDS, type_name
from app.core.schema import InputSchema, feature_schema, instances_schema


def openapi_schemas(schema: InputSchema) -> dict[str, dict[str, Any]]:
    """The request schemas in the OpenAPI 3.0 dialect the Swagger UI renders, and a CSV file's pattern.

    Each accepts only requests the server accepts, so a client (or a fuzzer) that follows
    them is never refused. ``instance`` and ``instances`` are the validating schemas.
    OpenAPI 3.0 has no ``prefixItems``, so ``rows`` (arrays of exactly as many values as there
    are features) is there only when every feature takes the same values; otherwise the
    ``instances`` description says that rows are accepted too. ``csv`` is the pattern of a
    file written the way the example is: the header naming the features in order, commas,
    plain values, one row per line.
    """

    def literal(text: str) -> str:  # a cell holding exactly this text, quoted as CSV needs, as a pattern
        if any(c in text for c in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        return "".join("\\" + c if c in "\\^$.|?*+()[]{}/" else c for c in text)

    kinds = {
        "integer": r"-?(?:0|[1-9][0-9]{0,17})",  # at most 18 digits: always a 64-bit integer
        "boolean": "(?:" + "|".join(TRUE_WORDS + FALSE_WORDS) + ")",
        "string": r'[^,"\r\n]+',
        "number": r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?(?:[eE][-+]?[0-9]{1,2})?",
    }
    cells = [
        "(?:" + "|".join(literal(str(v)) for v in f["enum"]) + ")" if f.get("enum") else kinds[type_name(f)]
        for f in schema.features
    ]
    csv = "^" + ",".join(map(literal, schema.names)) + r"(?:\n" + ",".join(cells) + r")+\n?$"
    example = schema.example()
    instance = {**schema.instance, "example": example}
    schemas = {
        "instance": instance,
        "instances": instances_schema(instance),
        "csv": {"type": "string", "pattern": csv},
    }
    values = [
        {k: v for k, v in feature_schema(f).items() if k != "description" and not k.startswith("x-")}
        for f in schema.features
    ]
    if all(v == values[0] for v in values):
        schemas["rows"] = instances_schema(
            {
                "type": "array",
                "minItems": len(schema.names),
                "maxItems": len(schema.names),
                "items": values[0],
                "description": schema.row["description"],
                "example": list(example.values()),
            }
        )
    else:
        schemas["instances"]["description"] = (
            "Instances by name. Rows of values in feature order (" + ", ".join(schema.names) + ") are "
            "accepted too; OpenAPI 3.0 cannot describe rows whose values are of different types."
        )
    return schemas
