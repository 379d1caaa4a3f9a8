"""A local stand-in for the Hugging Face Hub, for tests and for trying Driftless by hand.

The real ``huggingface_hub`` client (2.4.0) talks to it as it would to huggingface.co:
model info, model search, tree listings, paths-info, commits, refs and ``/resolve``
downloads, with the headers and ``X-Error-Code`` values the client turns into its own
exception types. Repos hold several commits; ``main`` follows the latest one. LFS files
are served by a second listener playing the CDN (see ``tests.fake_hub.http``).

Faults (status codes, dropped connections, stalls, corrupted bytes) are set per test
through ``hub.faults``, and every request lands in ``hub.requests``::

    hub = FakeHub(tmp_path)
    hub.add_repo("org/name", tags=["gguf"], license="apache-2.0", downloads=10)
    sha = hub.commit("org/name", {"m.Q4_0.gguf": b"...", "README.md": b"# Hi"})
    with hub:  # or hub.start() ... hub.stop()
        hub.faults.drop_after(1000)
        HfApi(endpoint=hub.url).model_info("org/name", files_metadata=True)

The pytest fixtures are in ``tests/hub_fixtures.py``; ``tests/hub_server.py`` serves the
starter model by hand.
"""

from __future__ import annotations

from tests.fake_hub.repos import (
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
    "LFS_THRESHOLD",
    "Blob",
    "Commit",
    "FakeHub",
    "Faults",
    "HubError",
    "LocalFile",
    "Repo",
    "RequestRecord",
    "file_sha256",
    "git_blob_oid",
]
