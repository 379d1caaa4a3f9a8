"""``POST /v1/classify`` through plain HTTP: the refusals (fake engines) and the starter."""

from __future__ import annotations

import math
from typing import Any

import httpx2 as httpx
import pytest

from app.core.models.store import ModelStore
from app.core.serve.protocol import PROVENANCE_HEADER, SHA256_HEADER
from app.core.serve.server import ApiServer, ServeConfig
from tests.unit.serve.conftest import StartServer


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"labels": ["a", "b"]}, "texts"),
        ({"texts": [], "labels": ["a", "b"]}, "texts"),
        ({"texts": ["x"]}, "label_set"),
        ({"texts": ["x"], "label_set": "spam", "labels": ["a", "b"]}, "label_set"),
        ({"texts": ["x"], "label_set": "../../etc/passwd"}, "label_set"),
        ({"texts": ["x"], "label_set": "mine.json"}, "label_set"),
        ({"texts": ["x"], "labels": ["only"]}, "labels"),
        ({"texts": ["x"], "labels": [{"nom": "a"}, "b"]}, "labels[0]"),
        ({"texts": ["x"], "labels": ["a", "b"], "method": "vibes"}, "method"),
        ({"texts": ["x"], "labels": ["a", "b"], "threshold": 2}, "threshold"),
        ({"texts": ["x"], "label_set": "spam", "version": 0}, "version"),
    ],
)
def test_bad_classify_requests_are_refused_with_the_field_named(
    start_server: StartServer, body: dict[str, Any], param: str
) -> None:
    server = start_server()
    response = httpx.post(server.url + "/classify", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.slow
def test_the_starter_classifies_through_http(module_store: ModelStore) -> None:
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        texts = ["I love this, it is wonderful!", "This is awful, I hate it."]
        response = httpx.post(
            server.url + "/classify",
            json={"texts": texts, "labels": ["positive", "negative"], "threshold": 0.0},
            timeout=300,
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert response.headers[PROVENANCE_HEADER] == starter.lock_id
        assert response.headers[SHA256_HEADER] == starter.sha256
        assert answer["provenance"]["sha256"] == starter.sha256
        assert answer["label_set"]["labels"] == ["positive", "negative"]
        assert answer["label_set"]["version_id"].startswith("labels#")
        assert answer["method"] == "prompt"
        assert [row["index"] for row in answer["data"]] == [0, 1]
        for row in answer["data"]:
            probs = row["probabilities"]
            assert set(probs) == {"positive", "negative"}
            assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-6)
            assert row["label"] == max(probs, key=probs.__getitem__)
            assert row["needs_review"] is False  # threshold 0
            assert row["answer"] == row["label"]
        # A built-in label set by name; a threshold of 1 sends everything to review.
        named = httpx.post(
            server.url + "/classify",
            json={"texts": "Win a free prize now!!!", "label_set": "spam", "threshold": 1.0},
            timeout=300,
        ).json()
        assert named["label_set"]["name"] == "spam"
        assert named["data"][0]["needs_review"] is True
        assert named["data"][0]["answer"] == "needs review"
        unknown = httpx.post(
            server.url + "/classify",
            json={"texts": ["x"], "label_set": "no-such-set"},
            timeout=300,
        )
        assert unknown.status_code == 400
        assert "no label set called" in unknown.json()["error"]["message"]
        no_head = httpx.post(
            server.url + "/classify",
            json={"texts": ["x"], "label_set": "spam", "method": "examples"},
            timeout=300,
        )
        assert no_head.status_code == 400
        assert "No head has been taught" in no_head.json()["error"]["message"]
    finally:
        server.stop()


@pytest.mark.slow
def test_a_label_set_is_prepared_once_and_answers_stay_the_same(
    module_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.classify import Workbench

    made: list[str] = []
    build = Workbench.classifier

    def counting(self: Workbench, label_set: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(label_set.version_id)
        return build(self, label_set, *args, **kwargs)

    monkeypatch.setattr(Workbench, "classifier", counting)
    server = ApiServer(module_store, ServeConfig(port=0))
    server.start()
    try:
        body = {"texts": ["Great value, would buy again."], "label_set": "sentiment"}
        answers = [
            httpx.post(server.url + "/classify", json=body, timeout=300).json() for _ in range(3)
        ]
        other = httpx.post(
            server.url + "/classify", json={**body, "threshold": 0.9}, timeout=300
        ).json()
    finally:
        server.stop()
    assert answers[0]["data"] == answers[1]["data"] == answers[2]["data"], "bitwise the same"
    assert other["data"][0]["probabilities"] == answers[0]["data"][0]["probabilities"]
    assert len(made) == 2, "the same set and options reuse the prepared classifier"
