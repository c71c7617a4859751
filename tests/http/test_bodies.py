"""Compressed request bodies: gzip (every member) and deflate, alike on /v1 (JSON, form, CSV), :predict and /v2.

A gzip body may hold several members, as ``gzip`` writes concatenated files and ``gunzip``
reads them; bytes after the compressed data that start no member are a 400; a body that
inflates past the body limit is a 413; any other Content-Encoding is a 415 naming gzip and
deflate.
"""
from __future__ import annotations

import gzip
import io
import json
import time
import zlib

import pandas as pd
import pytest
import tritonclient.http as triton

from app import create_app
from app.core.errors import InvalidInput, PayloadTooLarge
from app.http.bodies import inflate

ROWS = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.5, 2.0]]
JSON = json.dumps({"instances": ROWS}).encode()
CSV_HEADER = b"sepal_length,sepal_width,petal_length,petal_width\n"
CSV_ROWS = b"5.0,3.4,1.5,0.2\n6.6,3.0,5.5,2.0\n"
CSV = {"Content-Type": "text/csv", "Accept": "text/csv"}
JSON_TYPE = {"Content-Type": "application/json"}
#: The paths that take a JSON body of ROWS.
JSON_PATHS = ["/v1/models/iris/predict", "/v1/models/iris:predict"]


def two_members(data: bytes, at: int) -> bytes:
    """``data`` as two gzip members, split at ``at``: what `gzip a; gzip b; cat a.gz b.gz` gives."""
    return gzip.compress(data[:at]) + gzip.compress(data[at:])



def post(client, path, data, coding, **headers):
    return client.post(path, data=data, headers={"Content-Encoding": coding, **JSON_TYPE, **headers})


@pytest.fixture
def small(repo):
    """A client whose body limit is 4096 bytes."""
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_CONTENT_LENGTH": 4096}).test_client()


# --- /v1 JSON and :predict ----------------------------------------------------------------------


@pytest.mark.parametrize("path", JSON_PATHS)
def test_json_bodies_compressed_with_gzip_or_deflate_answer_as_uncompressed(client, path):
    plain = client.post(path, data=JSON, headers=JSON_TYPE)
    assert plain.status_code == 200
    for coding, packed in (("gzip", gzip.compress(JSON)), ("x-gzip", gzip.compress(JSON)),
                           ("deflate", zlib.compress(JSON)), ("GZip ", gzip.compress(JSON)),
                           ("identity", JSON)):
        response = post(client, path, packed, coding)
        assert response.status_code == 200, (coding, response.get_json())
        assert response.get_json() == plain.get_json()


@pytest.mark.parametrize("path", JSON_PATHS)
def test_a_gzip_body_of_several_members_is_read_whole(client, path):
    expected = client.post(path, data=JSON, headers=JSON_TYPE).get_json()
    for packed in (two_members(JSON, 10), two_members(JSON, len(JSON)), gzip.compress(JSON) + gzip.compress(b"")):
        response = post(client, path, packed, "gzip")
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == expected


@pytest.mark.parametrize("path", JSON_PATHS)
@pytest.mark.parametrize("coding, packed, fragment", [
    pytest.param("gzip", gzip.compress(JSON) + b"garbage", "bytes that are not a gzip member", id="gzip+garbage"),
    pytest.param("gzip", gzip.compress(JSON) + b"\x1f", "ends before its compressed data does", id="gzip+1f"),
    pytest.param("gzip", gzip.compress(JSON) + b"\x1f\x8bjunkjunkjunk", "not valid gzip data", id="gzip+bad-member"),
    pytest.param("gzip", gzip.compress(JSON) + b"\0" * 8, "bytes that are not a gzip member", id="gzip+zeros"),
    pytest.param("gzip", gzip.compress(JSON)[:-4], "ends before its compressed data does", id="gzip-cut-short"),
    pytest.param("gzip", JSON, "not valid gzip data", id="not-gzip"),
    pytest.param("deflate", zlib.compress(JSON) + b"garbage", "goes on after its compressed data ends",
                 id="deflate+garbage"),
    pytest.param("deflate", zlib.compress(JSON) * 2, "goes on after its compressed data ends", id="deflate-twice"),
])
def test_compressed_data_that_is_not_all_of_the_body_is_refused(client, path, coding, packed, fragment, problem):
    body = problem(post(client, path, packed, coding), 400, fragment)
    assert body["errors"][0]["path"] == ""


@pytest.mark.parametrize("path", JSON_PATHS)
def test_other_content_codings_are_a_415_naming_gzip_and_deflate(client, path, problem):
    for coding in ("br", "zstd", "gzip, gzip", "compress"):
        response = post(client, path, JSON, coding)
        body = problem(response, 415, "gzip", "deflate", "uncompressed")
        assert repr(coding.strip().lower()) in body["detail"]
        assert response.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("path", JSON_PATHS)
def test_a_compressed_body_inflates_at_most_to_the_body_limit(small, path, problem):
    bomb = gzip.compress(b" " * 100_000)
    assert len(bomb) < 4096
    problem(post(small, path, bomb, "gzip"), 413, "4096")
    problem(post(small, path, zlib.compress(b" " * 100_000), "deflate"), 413, "4096")
    # Members each under the limit that together pass it, and a bomb as the second member.
    problem(post(small, path, gzip.compress(b" " * 3000) * 2, "gzip"), 413, "4096")
    problem(post(small, path, gzip.compress(JSON) + bomb, "gzip"), 413, "4096")


# --- /v1 form and CSV ---------------------------------------------------------------------------


def test_a_compressed_form_is_one_instance(client, problem, setosa):
    form = "&".join(f"{k}={v}" for k, v in setosa.items()).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for coding, packed in (("gzip", two_members(form, 7)), ("deflate", zlib.compress(form))):
        response = client.post("/v1/models/iris/predict", data=packed, headers={"Content-Encoding": coding, **headers})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["prediction"] == "setosa"
    problem(client.post("/v1/models/iris/predict", data=gzip.compress(form) + b"x",
                        headers={"Content-Encoding": "gzip", **headers}), 400, "not a gzip member")
    problem(client.post("/v1/models/iris/predict", data=form, headers={"Content-Encoding": "br", **headers}), 415,
            "gzip or deflate")


def test_a_compressed_csv_file_is_scored_as_uncompressed(client):
    plain = client.post("/v1/models/iris/predict", data=CSV_HEADER + CSV_ROWS, headers=CSV)
    assert plain.status_code == 200 and plain.mimetype == "text/csv"
    for coding, packed in (("gzip", gzip.compress(CSV_HEADER + CSV_ROWS)),
                           ("gzip", gzip.compress(CSV_HEADER) + gzip.compress(CSV_ROWS)),
                           ("deflate", zlib.compress(CSV_HEADER + CSV_ROWS))):
        response = client.post("/v1/models/iris/predict", data=packed, headers={"Content-Encoding": coding, **CSV})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.data == plain.data
        assert pd.read_csv(io.BytesIO(response.data))["prediction"].tolist() == ["setosa", "virginica"]


@pytest.mark.parametrize("coding, packed, status, fragment", [
    pytest.param("gzip", gzip.compress(CSV_HEADER + CSV_ROWS) + b"trailing", 400, "not a gzip member",
                 id="gzip+garbage"),
    pytest.param("gzip", gzip.compress(CSV_HEADER + CSV_ROWS)[:-3], 400, "ends before its compressed data does",
                 id="gzip-cut-short"),
    pytest.param("gzip", CSV_HEADER + CSV_ROWS, 400, "not valid gzip data", id="not-gzip"),
    pytest.param("deflate", zlib.compress(CSV_HEADER + CSV_ROWS) + b"\n", 400,
                 "goes on after its compressed data ends", id="deflate+newline"),
    pytest.param("br", CSV_HEADER + CSV_ROWS, 415, "gzip or deflate", id="br"),
])
def test_a_compressed_csv_file_that_is_not_all_compressed_data_is_refused(client, coding, packed, status, fragment,
                                                                          problem):
    response = client.post("/v1/models/iris/predict", data=packed, headers={"Content-Encoding": coding, **CSV})
    problem(response, status, fragment)


def test_a_compressed_csv_file_inflates_at_most_to_the_body_limit(small, problem):
    many = CSV_HEADER + b"5.0,3.4,1.5,0.2\n" * 1000
    for packed in (gzip.compress(many), gzip.compress(CSV_HEADER) + gzip.compress(many[len(CSV_HEADER):])):
        assert len(packed) < 4096
        response = small.post("/v1/models/iris/predict", data=packed, headers={"Content-Encoding": "gzip", **CSV})
        problem(response, 413, "4096")


# --- /v2 ----------------------------------------------------------------------------------------


def test_a_v2_body_with_its_json_and_binary_parts_in_two_gzip_members(client, problem, numpy_inputs):
    raw, length = triton.InferenceServerClient.generate_request_body(numpy_inputs(ROWS))
    header = {"Inference-Header-Content-Length": str(length)}
    expected = client.post("/v2/models/iris/infer", data=raw, headers=header)
    assert expected.status_code == 200
    response = client.post("/v2/models/iris/infer", data=two_members(raw, length),
                           headers={"Content-Encoding": "gzip", **header})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == expected.get_json()
    for coding, packed, fragment in (("gzip", gzip.compress(raw) + b"garbage", "not a gzip member"),
                                     ("deflate", zlib.compress(raw) + b"garbage", "after its compressed data ends")):
        response = client.post("/v2/models/iris/infer", data=packed, headers={"Content-Encoding": coding, **header})
        assert problem(response, 400, fragment)["error"].startswith(f"The {coding} body")


def test_a_v2_body_of_members_that_together_pass_the_limit_is_a_413(small, problem):
    body = json.dumps({"inputs": [], "padding": " " * 3000}).encode()
    problem(small.post("/v2/models/iris/infer", data=gzip.compress(body) * 2, headers={"Content-Encoding": "gzip"}),
            413, "4096")


# --- inflate() itself ---------------------------------------------------------------------------


def one_byte_blocks(data: bytes):
    return (data[i:i + 1] for i in range(len(data)))


def test_members_are_read_across_any_block_boundary():
    data = b"the first member|" + bytes(range(256)) * 40
    packed = gzip.compress(data[:17]) + gzip.compress(b"") + gzip.compress(data[17:])
    assert b"".join(inflate(one_byte_blocks(packed), "gzip", len(data))) == data
    assert b"".join(inflate((packed[:len(packed) // 3], packed[len(packed) // 3:]), "gzip", len(data))) == data
    with pytest.raises(PayloadTooLarge):
        b"".join(inflate(one_byte_blocks(packed), "gzip", len(data) - 1))


@pytest.mark.parametrize("tail, fragment", [
    pytest.param(b"\x1f", "ends before", id="first-magic-byte"),
    pytest.param(b"\x1fx", "not a gzip member", id="wrong-second-byte"),
    pytest.param(b"x", "not a gzip member", id="wrong-first-byte"),
    pytest.param(b"\x1f\x8b\x08", "ends before", id="member-cut-short"),
])
def test_a_tail_split_across_blocks_is_judged_as_a_whole(tail, fragment):
    packed = gzip.compress(b"data") + tail
    with pytest.raises(InvalidInput, match=fragment):
        b"".join(inflate(one_byte_blocks(packed), "gzip", 100))


def test_a_body_of_many_tiny_members_is_read_in_linear_time():
    """Each member's end leaves at most one step of input to copy, not the rest of the body."""
    packed = gzip.compress(b"x", mtime=0) * 50_000  # 1 MB; copying the rest at each end would move 26 GB
    started = time.perf_counter()
    assert b"".join(inflate((packed,), "gzip", 1 << 20)) == b"x" * 50_000
    assert time.perf_counter() - started < 3  # about 0.1 s
