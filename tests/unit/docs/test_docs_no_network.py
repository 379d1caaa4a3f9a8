"""Documents never open an outgoing connection: indexing, searching and answering, on the
real starter, in real ``driftless`` processes, from the command line and over the API.

Each process runs with an audit hook (PEP 578) that records every ``socket.connect``
and name lookup Python code makes, to a file (as the API's own no-network test does).
The API is called over 127.0.0.1; the only connections the server may have are the ones
it accepted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.unit.serve.test_api_no_network import LAUNCH, ROOT


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": "http://hub.invalid",  # where a stray Hub call would go
        "HF_HUB_DISABLE_TELEMETRY": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HF_HUB_OFFLINE", None)
    return env


def driftless(audit: Path, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", LAUNCH, str(audit), "--home", str(home), *argv]
    done = subprocess.run(
        command, env=_env(), cwd=home.parent, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_indexing_searching_and_answering_make_no_outgoing_connection(tmp_path: Path) -> None:
    audit, home = tmp_path / "audit.log", tmp_path / "home"
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "refunds.md").write_text(
        "# Refunds\n\nMoney is returned to the card within 14 days of the claim.\n"
    )
    (folder / "shipping.html").write_text(
        "<h1>Shipping</h1><p>Parcels travel by post and arrive in three days.</p>"
    )
    (folder / "junk.bin.txt").write_bytes(b"\x00\x01\x02" * 40)

    added = driftless(audit, home, "docs", "add", "kb", str(folder))
    assert "kb: read 2 files into 2 passages" in added.stderr
    assert "it is a binary file, not text" in added.stderr
    found = driftless(
        audit, home, "docs", "search", "kb", "when", "is", "money", "returned", "--json"
    )
    hits = json.loads(found.stdout)["hits"]
    assert Path(hits[0]["source"]).name == "refunds.md"
    answered = driftless(
        audit, home, "chat", "--no-save", "--docs", "kb", "--max-tokens", "12",
        "When is my money returned?",
    )  # fmt: skip
    assert f"Sources:\n[1] {folder / 'refunds.md'}, line 1" in answered.stdout

    command = [sys.executable, "-c", LAUNCH, str(audit), "--home", str(home)]
    command += ["serve", "--port", "0"]
    server = subprocess.Popen(command, env=_env(), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        url = ""
        deadline = time.monotonic() + 120
        while not url and time.monotonic() < deadline:
            line = server.stderr.readline()
            assert line, "the server ended before it served"
            match = re.search(r"Serving the API at (\S+) ", line)
            url = match.group(1) if match else ""
        searched = httpx.post(
            url + "/docs/search", json={"collection": "kb", "query": "parcels"}, timeout=120
        )
        assert searched.status_code == 200, searched.text
        assert Path(searched.json()["hits"][0]["source"]).name == "shipping.html"
        chat = httpx.post(
            url + "/chat/completions",
            json={
                "messages": [{"role": "user", "content": "How do parcels travel?"}],
                "max_tokens": 12,
                "driftless": {"docs": ["kb"]},
            },
            timeout=120,
        )
        assert chat.status_code == 200, chat.text
        assert "Sources:\n[1] " in chat.json()["choices"][0]["message"]["content"]
    finally:
        server.terminate()
        server.wait(30)
    assert audit.read_text() == "", "documents made outgoing connections or lookups"
