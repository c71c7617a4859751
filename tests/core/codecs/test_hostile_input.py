"""Client input built to break the server: deep nesting, odd digits, floats for integers, narrow floats.

Each of these once reached a 500 (or, under Apache, a crashed process); each must be a 400
problem document naming what is wrong, on every protocol and body kind that could carry it.
"""
from __future__ import annotations

import gzip
import io
import json

import pytest

from app.core.codecs.jsonbody import MAX_DEPTH, check_depth
from app.core.errors import InvalidInput

HEADER = "Inference-Header-Content-Length"
ROW = [5.0, 3.4, 1.5, 0.2]


def nested(depth: int, inner: str = "1.0") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.fixture
def tensors(iris_features):
    """Factory: one input tensor per iris feature, of one value each (ROW unless ``values`` says)."""
    def make(datatype: str = "FP64", values: list | None = None, shape: list | None = None) -> list[dict]:
        return [{"name": name, "datatype": datatype, "shape": shape or [1], "data": [value]}
                for name, value in zip(iris_features, values or ROW, strict=True)]
    return make


# --- Nesting -------------------------------------------------------------------------------------

V2_DEEP = ('{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ' + nested(1000) + '}]}')


@pytest.mark.parametrize("path, body", [
    ("/v2/models/iris/infer", V2_DEEP),
    ("/v2/models/iris/versions/2/infer", V2_DEEP),
    ("/v1/models/iris/predict", '{"instances": ' + nested(1000) + "}"),
    ("/v1/models/iris/versions/2/predict", '{"instances": ' + nested(1000) + "}"),
    ("/v1/models/iris:predict", '{"instances": ' + nested(1000) + "}"),
    ("/v1/models/iris/predict", nested(600, '{"a": 1}')),
    ("/v1/models/iris/predict", '{"sepal_length": ' + "{\"x\": " * 800 + "1" + "}" * 800 + "}"),
])
def test_a_body_nested_a_thousand_deep_is_a_400_before_it_is_decoded(client, path, body, problem):
    answer = problem(client.post(path, data=body, content_type="application/json"), 400,
                     "levels deep", f"at most {MAX_DEPTH}")
    assert answer["errors"] == [{"path": "", "message": answer["errors"][0]["message"]}]


def test_nesting_just_past_the_cap_is_refused_and_the_cap_itself_is_decoded(client, problem):
    problem(client.post("/v1/models/iris/predict", data='{"instances": ' + nested(MAX_DEPTH) + "}",
                        content_type="application/json"), 400, f"{MAX_DEPTH + 1} levels deep")
    # At the cap the body is decoded, and the schema says what is wrong with it.
    answer = problem(client.post("/v1/models/iris/predict", data='{"instances": ' + nested(MAX_DEPTH - 1) + "}",
                                 content_type="application/json"), 400)
    assert "levels deep" not in answer["detail"]


def test_brackets_inside_strings_are_not_nesting():
    check_depth(('{"instances": [{"id": "' + "[" * 500 + '"}]}').encode())
    check_depth(('{"id": "\\"' + "{" * 500 + '"}').encode())
    with pytest.raises(InvalidInput):
        check_depth(('["' + "[" * 40 + '", ' + nested(MAX_DEPTH) + "]").encode())


def test_many_shallow_rows_are_not_deep(client):
    body = {"instances": [ROW] * 5000}
    response = client.post("/v1/models/iris/predict", json=body)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["predictions"]) == 5000


def test_tensor_data_nested_deeper_than_its_shape_is_a_400(client, problem, tensors):
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": [[[ROW]]]}]}
    answer = problem(client.post("/v2/models/iris/infer", json=body), 400, "deeper than the 2 dimensions")
    assert answer["errors"][0]["path"] == "inputs/0/data"
    one_dimension = tensors(shape=[1])
    one_dimension[2] = {**one_dimension[2], "data": [[1.5]]}
    problem(client.post("/v2/models/iris/infer", json={"inputs": one_dimension}), 400,
            "'petal_length'", "deeper than the 1 dimensions")
    # Nested once per dimension, or flat, is what the protocol takes.
    for data in ([ROW], ROW):
        body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": data}]}
        assert client.post("/v2/models/iris/infer", json=body).status_code == 200


def test_bracket_text_in_a_form_field_or_csv_cell_is_a_value_error(client, problem, iris_features):
    form = {name: str(value) for name, value in zip(iris_features, ROW, strict=True)}
    form["sepal_width"] = nested(1000)
    problem(client.post("/v1/models/iris/predict", data=form), 400, "sepal_width")
    cell = nested(1000)
    csv = f"{','.join(iris_features)}\n5.0,{cell},1.5,0.2\n".encode()
    problem(client.post("/v1/models/iris/predict", data=csv, content_type="text/csv"), 400, "sepal_width")
    page = client.post("/ui/models/iris", data=form)
    assert page.status_code == 400 and "sepal_width" in page.get_data(as_text=True)
    upload = client.post("/ui/models/iris/score", data={"file": (io.BytesIO(csv), "cases.csv")},
                         content_type="multipart/form-data")
    assert upload.status_code == 400 and "sepal_width" in upload.get_data(as_text=True)


# --- Whole numbers in the protocol --------------------------------------------------------------


@pytest.mark.parametrize("header", ["\u00b2", "\u0663", "\uff11", "1\u00b2", "-1", "1e3", " "])
def test_a_header_length_that_is_not_ascii_digits_is_a_400(client, header, problem):
    answer = problem(client.post("/v2/models/iris/infer", data=b'{"inputs": []}',
                                 content_type="application/octet-stream", headers={HEADER: header}), 400, HEADER)
    assert answer["errors"][0]["path"] == HEADER


def test_floats_where_the_protocol_takes_whole_numbers_are_a_400(client, problem):
    framed = (b'{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], '
              b'"parameters": {"binary_data_size": 32.0}}]}')
    binary = b"\0" * 32
    answer = problem(client.post("/v2/models/iris/infer", data=framed + binary,
                                 content_type="application/octet-stream", headers={HEADER: str(len(framed))}),
                     400, "binary_data_size must be a whole number", "32.0")
    assert answer["errors"][0]["path"] == "inputs/0/parameters/binary_data_size"
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1.0, 4.0], "data": ROW}]}
    answer = problem(client.post("/v2/models/iris/infer", json=body), 400, "shape/0 must be a whole number")
    assert [e["path"] for e in answer["errors"]] == ["inputs/0/shape/0", "inputs/0/shape/1"]
    body["inputs"][0]["shape"] = [1, 4]
    assert client.post("/v2/models/iris/infer", json=body).status_code == 200


# --- Narrow floats -------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype, value, fragment", [
    ("FP16", 1e300, "FP16 (-65504 to 65504)"),
    ("FP16", 70000, "FP16"),
    ("FP16", -65520.0, "FP16"),
    ("FP16", 65505.0, "FP16"),  # would round to 65504, but is beyond the largest FP16 all the same
    ("FP32", 3.402823466385289e38, "FP32"),  # one step past the largest FP32
    ("FP32", 3.5e38, "FP32"),
    ("FP32", -1e39, "FP32"),
])
def test_json_values_beyond_a_narrow_float_type_are_a_400(client, datatype, value, fragment, problem, tensors):
    values = [*ROW[:3], value]
    answer = problem(client.post("/v2/models/iris/infer", json={"inputs": tensors(datatype, values)}), 400,
                     "'petal_width'", f"beyond the range of {fragment}")
    assert answer["errors"][0]["path"] == "inputs/3/data/0"


def test_json_values_within_a_narrow_float_type_predict(client, tensors):
    for datatype, values in (("FP16", [5.0, 3.4, 1.5, 65504.0]), ("FP32", [5.0, 3.4, 1.5, 3.4e38])):
        response = client.post("/v2/models/iris/infer", json={"inputs": tensors(datatype, values)})
        assert response.status_code == 200, response.get_json()


# --- Probed and sound: kept that way -------------------------------------------------------------


def framed_request(client, inputs: list[dict], binary: bytes, outputs: list[dict] | None = None):
    header = json.dumps({"inputs": inputs, **({"outputs": outputs} if outputs else {})}).encode()
    return client.post("/v2/models/iris/infer", data=header + binary, content_type="application/octet-stream",
                       headers={HEADER: str(len(header))})


@pytest.mark.parametrize("shape, size, fragment", [
    ([2**31, 2**31], 32, "takes"),
    ([2**62], 32, "takes"),
    ([2**62, 2**62, 2**62], 32, "takes"),
    ([1, 4], 2**62, "bytes of binary data are left"),
    ([1, 4], 2**63 - 1, "bytes of binary data are left"),
])
def test_huge_shapes_and_binary_sizes_are_a_400_without_allocating(client, shape, size, fragment, problem):
    tensor = {"name": "input-0", "datatype": "FP64", "shape": shape, "parameters": {"binary_data_size": size}}
    problem(framed_request(client, [tensor], b"\0" * 32), 400, fragment)


def test_huge_shapes_in_json_are_a_400(client, problem):
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2**62, 4], "data": ROW}]}
    problem(client.post("/v2/models/iris/infer", json=body), 400, "takes")


def test_bool_and_bytes_data_of_the_other_kind_are_refused(client, problem, tensors, iris_features):
    as_bool = [{"name": n, "datatype": "BOOL", "shape": [1], "parameters": {"binary_data_size": 5}}
               for n in iris_features]
    problem(framed_request(client, as_bool, b"\x01\x00\x00\x00x" * 4), 400)
    as_bytes = tensors("BYTES", ["5.0", "3.4", "1.5", "0.2"])
    problem(client.post("/v2/models/iris/infer", json={"inputs": as_bytes}), 400, "BYTES")


def test_an_output_asked_for_twice_is_a_400(client, problem, tensors):
    outputs = [{"name": "predict"}, {"name": "predict"}]
    problem(client.post("/v2/models/iris/infer", json={"inputs": tensors(), "outputs": outputs}), 400,
            "asked for twice")


def test_nine_thousand_tensors_are_refused(client):
    inputs = [{"name": f"t{i}", "datatype": "FP64", "shape": [1], "data": [1.0]} for i in range(9000)]
    response = client.post("/v2/models/iris/infer", json={"inputs": inputs})
    assert response.status_code in (400, 413), response.status_code
    assert response.mimetype == "application/problem+json"


def test_a_gzip_bomb_is_a_413(client, problem):
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=9)
    assert len(bomb) < 1 << 20
    for path in ("/v2/models/iris/infer", "/v1/models/iris/predict", "/v1/models/iris:predict"):
        problem(client.post(path, data=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}),
                413, "inflates to more than the limit")


def test_the_documented_fp32_rows_are_those_the_server_takes(client):
    """The model's documented V2 request (which fuzzers follow) bounds FP32 elements as the server does."""
    from jsonschema import Draft4Validator

    spec = client.get("/apispec.json").get_json()
    reference = spec["paths"]["/v2/models/iris/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft4Validator({**reference, "components": spec["components"]})
    largest = 3.4028234663852886e38
    for value, documented in ((largest, True), (-largest, True), (3.402823466385289e38, False), (3.5e38, False),
                              (-1e39, False)):
        body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": [*ROW[:3], value]}]}
        assert validator.is_valid(body) is documented, value
        answered = client.post("/v2/models/iris/infer", json=body).status_code
        assert (answered == 200) is documented, (value, answered)
