"""The server never opens an outgoing connection: checked in a real ``driftless serve``.

The server runs in a process of its own with an audit hook (PEP 578) that records every
``socket.connect`` and name lookup that Python code makes, to a file. The test calls it
as a client would (list, chat, streamed chat, embeddings, classify) over 127.0.0.1; the
only connections the server may have are the ones it accepted. Native code (llama.cpp)
is outside an audit hook's sight; it has no network code in this build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx2 as httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[3]

LAUNCH = textwrap.dedent(
    """
    import sys

    log = open(sys.argv[1], "a", buffering=1)

    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                     "socket.gethostbyaddr", "socket.sendto"):
            log.write(f"{event} {args[1:] if event.endswith(('connect', 'sendto')) else args}\\n")

    sys.addaudithook(audit)
    from app.cli import main

    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.slow
def test_serving_real_answers_makes_no_outgoing_connection(tmp_path: Path) -> None:
    audit_log = tmp_path / "audit.log"
    env = {
        **os.environ,
        # Where a stray Hub call would go; an audit entry would name it.
        "HF_ENDPOINT": "http://hub.invalid",
        "HF_HUB_DISABLE_TELEMETRY": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HF_HUB_OFFLINE", None)
    command = [sys.executable, "-c", LAUNCH, str(audit_log)]
    command += ["--home", str(tmp_path / "home"), "serve", "--port", "0"]
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        url = ""
        deadline = time.monotonic() + 120
        while not url and time.monotonic() < deadline:
            line = server.stderr.readline()
            assert line, "the server ended before it served"
            found = re.search(r"Serving the API at (\S+) ", line)
            url = found.group(1) if found else ""
        assert url.startswith("http://127.0.0.1:")
        api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
        model = api.models.list().data[0].id
        question = [{"role": "user", "content": "Name a colour."}]
        answer = api.chat.completions.create(model=model, messages=question, max_tokens=8)
        assert answer.choices[0].message.content
        stream = api.chat.completions.create(
            model=model, messages=question, max_tokens=8, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        vectors = api.embeddings.create(model=model, input=["a cat", "a dog"])
        assert len(vectors.data) == 2 and len(vectors.data[0].embedding) > 10
        classified = httpx.post(
            url + "/classify",
            json={"model": model, "texts": ["I love it"], "label_set": "sentiment"},
            timeout=120,
        )
        assert classified.status_code == 200, classified.text
        assert json.loads(classified.text)["data"][0]["label"]
    finally:
        server.terminate()
        server.wait(30)
    assert audit_log.read_text() == "", "the server made outgoing connections or lookups"
