"""Fuzzing the HTTP API of a running worker: whatever a client sends, the answer is a clear JSON error
or a proper answer, never a server error."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.local.worker_process import WorkerProcess
from tests.e2e.helpers import bearer

pytestmark = pytest.mark.e2e

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=20,
)
# Bodies that are almost right: the fields of PlaceHold with values of any shape, and a stray field.
hold_like = st.fixed_dictionaries(
    {},
    optional={
        "alarm_id": json_values,
        "case_reference": json_values,
        "requested_by": json_values,
        "extra": json_values,
    },
)
# A well-formed alarm id, so that a release gets as far as building its event.
known_alarm = st.fixed_dictionaries({"alarm_id": st.from_regex(r"\Afuzz-[a-z0-9]{1,12}\Z")})
path_segments = st.text(min_size=1, max_size=300).map(lambda s: quote(s, safe=""))


def assert_clear(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        problem = answer.json()
        assert problem["error"]
        assert problem["detail"]


@pytest.fixture(scope="module")
def client(worker: WorkerProcess) -> Any:
    with httpx.Client(base_url=worker.url, timeout=30) as client:
        yield client


class TestApiFuzz:
    @FUZZ
    @given(body=json_values | hold_like)
    def test_placing_a_hold_with_any_json_body(self, client: httpx.Client, body: Any) -> None:
        # Sent as Python writes JSON, so Infinity and -Infinity (not JSON) come along too.
        headers = {**bearer("police-liaison"), "Content-Type": "application/json"}
        assert_clear(client.post("/api/v1/holds", content=json.dumps(body).encode(), headers=headers))

    @FUZZ
    @given(raw=st.binary(max_size=500))
    def test_placing_a_hold_with_any_bytes(self, client: httpx.Client, raw: bytes) -> None:
        headers = {**bearer("police-liaison"), "Content-Type": "application/json"}
        assert_clear(client.post("/api/v1/holds", content=raw, headers=headers))

    @FUZZ
    @given(hold_id=path_segments, body=st.none() | json_values | hold_like | known_alarm)
    def test_releasing_any_hold_id(self, client: httpx.Client, hold_id: str, body: Any) -> None:
        content = b"" if body is None else json.dumps(body).encode()
        answer = client.post(
            f"/api/v1/holds/{hold_id}/release", content=content, headers=bearer("police-liaison")
        )
        assert_clear(answer)

    @FUZZ
    @given(
        segment=path_segments, which=st.sampled_from(["alarms/{}", "alarms/{}/audit", "customers/{}/media"])
    )
    def test_reading_any_alarm_or_customer(self, client: httpx.Client, segment: str, which: str) -> None:
        assert_clear(client.get("/api/v1/" + which.format(segment), headers=bearer("operator")))

    def test_an_oversized_body_is_refused_with_a_clear_reason(self, client: httpx.Client) -> None:
        body = {"alarm_id": "a", "case_reference": "x" * 200_000}
        answer = client.post("/api/v1/holds", json=body, headers=bearer("police-liaison"))
        assert answer.status_code == 413
        assert_clear(answer)

    def test_deeply_nested_json_is_refused_with_a_clear_reason(self, client: httpx.Client) -> None:
        raw = b"[" * 50_000 + b"]" * 50_000
        answer = client.post("/api/v1/holds", content=raw[:60_000], headers=bearer("police-liaison"))
        assert 400 <= answer.status_code < 500
        assert_clear(answer)
