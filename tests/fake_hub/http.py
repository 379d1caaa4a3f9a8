"""The fake Hub over HTTP: the listeners, the request handler and the JSON it answers with.

LFS files (``*.gguf``, and anything from ``lfs_threshold`` bytes up) are redirected,
as on the Hub, to a second listener playing the CDN. It is another origin on purpose:
the client then reads the file's metadata from the redirect itself and drops the
Authorization header when it follows it, exactly as with the real CDN. (A same-origin
redirect would be followed by the client's HEAD, which then wants ``X-Repo-Commit``
from the CDN's answer.)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from tests.fake_hub.repos import Blob, Commit, FakeHub, HubError, Repo, RequestRecord

_CHUNK = 256 * 1024
_CORRUPT = bytes(b ^ 0xFF for b in range(256))


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, [""])[-1].lower() in ("1", "true")


# -- JSON views ----------------------------------------------------------------------

_LIST_FIELDS = {"_id", "id", "modelId", "likes", "downloads", "trendingScore", "private", "tags"}
_LIST_FIELDS |= {"pipeline_tag", "library_name", "createdAt"}


def _model_json(repo: Repo, commit: Commit | None, *, blobs: bool) -> dict[str, Any]:
    tags = list(repo.tags)
    for implied in (
        repo.library_name,
        repo.pipeline_tag,
        repo.license and f"license:{repo.license}",
        "region:us",
    ):
        if implied and implied not in tags:
            tags.append(implied)
    card: dict[str, Any] = {"tags": list(repo.tags)}  # as if read from the README's YAML
    if repo.license:
        card["license"] = repo.license
    files = commit.files if commit else {}
    siblings = []
    for name, blob in sorted(files.items()):
        sibling: dict[str, Any] = {"rfilename": name}
        if blobs:
            sibling.update(size=blob.size, blobId=blob.oid)
            if blob.sha256:
                sibling["lfs"] = {
                    "sha256": blob.sha256,
                    "size": blob.size,
                    "pointerSize": blob.pointer_size,
                }
        siblings.append(sibling)
    info: dict[str, Any] = {
        "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": commit.sha if commit else None,
        "lastModified": _iso(commit.date) if commit else None,
        "createdAt": _iso(repo.created_at),
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "trendingScore": 0,
        "tags": tags,
        "pipeline_tag": repo.pipeline_tag,
        "library_name": repo.library_name,
        "cardData": card,
        "siblings": siblings,
        "spaces": [],
        "usedStorage": sum(blob.size for blob in files.values()),
    }
    info.update(repo.extra)
    return {key: value for key, value in info.items() if value is not None}


def _under(files: Mapping[str, Blob], folder: str) -> list[tuple[str, str]]:
    return sorted((name, blob.oid) for name, blob in files.items() if name.startswith(folder + "/"))


def _last_commit(repo: Repo, commit: Commit, path: str) -> dict[str, str]:
    """The commit that last changed ``path`` (a file or a folder), as of ``commit``."""

    def state(c: Commit) -> object:
        return c.files[path].oid if path in c.files else _under(c.files, path)

    now = state(commit)
    while commit.parent is not None and state(repo.commits[commit.parent]) == now:
        commit = repo.commits[commit.parent]
    return {"id": commit.sha, "title": commit.title, "date": _iso(commit.date)}


def _entry(repo: Repo, commit: Commit, path: str, *, expand: bool) -> dict[str, Any]:
    blob = commit.files.get(path)
    if blob is None:
        oid = hashlib.sha1(repr(_under(commit.files, path)).encode()).hexdigest()
        entry: dict[str, Any] = {"type": "directory", "oid": oid, "size": 0, "path": path}
    else:
        entry = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
        if blob.sha256:
            entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
        if expand:
            entry["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False},
                "pickleImportScan": None,
            }
    if expand:
        entry["lastCommit"] = _last_commit(repo, commit, path)
    return entry


def _tree(
    repo: Repo, commit: Commit, folder: str, *, recursive: bool, expand: bool
) -> list[dict[str, Any]] | None:
    base = f"{folder}/" if folder else ""
    paths: set[str] = set()
    for name in commit.files:
        if not name.startswith(base):
            continue
        parts = name[len(base) :].split("/")
        if recursive:
            paths.update(base + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
        else:
            paths.add(base + parts[0])
    if folder and not paths:
        return None
    return [_entry(repo, commit, path, expand=expand) for path in sorted(paths)]


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte asked for; None if unsatisfiable, ValueError if malformed."""
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash or "," in spec:
        raise ValueError(header)
    if not first:
        count = int(last)
        return (max(size - count, 0), size - 1) if count > 0 and size > 0 else None
    start, stop = int(first), min(int(last), size - 1) if last else size - 1
    return (start, stop) if start < size and start <= stop else None


def _cursor(query: dict[str, list[str]]) -> int:
    raw = query.get("cursor", [""])[-1]
    if not raw:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(raw))["offset"])
    except (ValueError, KeyError, TypeError):
        raise HubError(400, "Invalid cursor") from None


# -- HTTP ----------------------------------------------------------------------------


class HubServer(ThreadingHTTPServer):
    """One listener: the Hub's API and downloads, or the CDN (``role`` "hub" or "cdn")."""

    daemon_threads = True
    thread: threading.Thread

    def __init__(self, hub: FakeHub, role: str, port: int) -> None:
        self.hub, self.role = hub, role
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections, whose handler threads would otherwise wait on them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    disable_nagle_algorithm = True  # else headers and body, written apart, wait 40 ms for an ACK
    server: HubServer

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            sys.stderr.write(f"[fake {self.server.role}] {format % args}\n")

    def _dispatch(self) -> None:
        hub = self.server.hub
        raw, _, query_string = self.path.partition("?")
        self._path = unquote(raw)
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = parse_qs(query_string, keep_blank_values=True)
        self._record = RequestRecord(self.server.role, self.command, self._path, query, headers)
        with hub._lock:
            hub._log.append(self._record)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answered = False
        try:
            fault = hub.faults._take("status", self.command, self._path)
            if fault is not None:
                message = fault.message or f"Injected error {fault.code}"
                raise HubError(fault.code, message, fault.error_code)
            if hub.faults._take("redirect", self.command, self._path) is not None:
                here = f"http://{self.headers.get('Host')}{self.path}"
                return self._send_bytes(302, b"Found.", {"Location": here}, "text/plain")
            segments = [unquote(part) for part in raw.split("/")[1:]]
            if self.server.role == "cdn":
                self._cdn(segments)
            else:
                self._route(segments, query, body)
        except HubError as error:
            self._send_error(error)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as error:
            traceback.print_exc()  # a bug in this fake: answer, so the test fails, not hangs
            if not self._answered:
                self._send_error(HubError(500, f"Fake hub error: {error!r}"))
            self.close_connection = True

    def _route(self, seg: list[str], query: dict[str, list[str]], body: bytes) -> None:
        get = self.command == "GET"
        if seg[:2] == ["api", "models"]:
            if len(seg) == 2 and get:
                return self._list_models(query)
            if len(seg) >= 4:
                repo_id = f"{seg[2]}/{seg[3]}"
                action, rest = (seg[4] if len(seg) > 4 else None), seg[5:]
                if action is None and get:
                    return self._model_info(repo_id, "main", query)
                if action == "revision" and rest and get:
                    return self._model_info(repo_id, "/".join(rest), query)
                if action == "tree" and rest and get:
                    return self._tree(repo_id, rest[0], "/".join(rest[1:]).strip("/"), query)
                if action == "paths-info" and len(rest) == 1 and self.command == "POST":
                    return self._paths_info(repo_id, rest[0], body)
                if action == "commits" and rest and get:
                    return self._commits(repo_id, "/".join(rest), query)
                if action == "refs" and not rest and get:
                    return self._refs(repo_id, query)
        elif seg == ["api", "agent-harnesses"] and get:  # fetched for the user-agent string
            return self._send_json({"standardEnvVars": [], "harnesses": {}})
        elif len(seg) >= 5 and seg[2] == "resolve" and self.command in ("GET", "HEAD"):
            return self._resolve(f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    # -- access ------------------------------------------------------------------------

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization")
        if auth is None:
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.server.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return token

    def _allowed(self, token: str | None, repo_id: str) -> bool:
        if token is None:
            return False
        scope = self.server.hub.tokens[token]
        return scope is None or repo_id in scope

    def _access(self, repo_id: str, *, content: bool = False) -> Repo:
        """The repo, if this request may see it (and its files' content, for ``content``)."""
        hub = self.server.hub
        with hub._lock:
            token = self._token()
            repo = hub._repos.get(repo_id)
            allowed = self._allowed(token, repo_id)
        if repo is None or (repo.private and not allowed):
            # Like the Hub: 401 to anonymous callers, so a private repo's existence does not leak.
            raise HubError(401 if token is None else 404, "Repository not found", "RepoNotFound")
        if content and repo.gated and not allowed:
            if token is None:
                raise HubError(
                    401,
                    f"Access to model {repo_id} is restricted. You must have access to it and be"
                    " authenticated to access it. Please log in.",
                    "GatedRepo",
                )
            raise HubError(
                403,
                f"Access to model {repo_id} is restricted and you are not in the authorized list."
                f" Visit {hub.url}/{repo_id} to ask for access.",
                "GatedRepo",
            )
        return repo

    def _commit_at(self, repo: Repo, rev: str) -> Commit:
        with self.server.hub._lock:
            name = rev.removeprefix("refs/heads/").removeprefix("refs/tags/")
            sha = repo.branches.get(name) or repo.tag_refs.get(name)
            if sha is None and 7 <= len(rev) <= 40 and all(c in "0123456789abcdef" for c in rev):
                matches = [known for known in repo.commits if known.startswith(rev)]
                sha = matches[0] if len(matches) == 1 else None
            if sha is None:
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return repo.commits[sha]

    # -- API ---------------------------------------------------------------------------

    def _model_info(self, repo_id: str, rev: str, query: dict[str, list[str]]) -> None:
        repo = self._access(repo_id)
        info = _model_json(repo, self._commit_at(repo, rev), blobs=_flag(query, "blobs"))
        if not self.server.hub.model_info_lfs:
            for sibling in info.get("siblings", []):
                sibling.pop("lfs", None)
                sibling.pop("size", None)
        expand = query.get("expand", []) + query.get("expand[]", [])
        if expand:
            info = {key: value for key, value in info.items() if key in ("_id", "id", *expand)}
        if self.server.hub.rewrite_info is not None:
            info = self.server.hub.rewrite_info(info)
        self._send_json(info)

    def _list_models(self, query: dict[str, list[str]]) -> None:
        hub = self.server.hub
        one = {name: values[-1] for name, values in query.items()}
        with hub._lock:
            token = self._token()
            visible = [
                r for r in hub._repos.values() if not r.private or self._allowed(token, r.repo_id)
            ]
            found = [
                _model_json(r, r.commits.get(r.branches.get("main", "")), blobs=False)
                for r in visible
            ]
        search = one.get("search", "").lower()
        found = [
            info
            for info in found
            if search in info["id"].lower()
            and one.get("author", info["author"]) == info["author"]
            and one.get("pipeline_tag", info.get("pipeline_tag")) == info.get("pipeline_tag")
            and all(tag in info["tags"] for tag in query.get("filter", []))
            and ("gated" not in one or bool(info["gated"]) == _flag(query, "gated"))
        ]
        if "sort" in one:
            key = one["sort"]
            found.sort(
                key=lambda info: (info.get(key) is not None, info.get(key) or 0), reverse=True
            )
        expand = query.get("expand", []) + query.get("expand[]", [])
        if expand:
            keep: set[str] | None = {"_id", "id", *expand}
        elif _flag(query, "full"):
            keep = None
        else:
            keep = _LIST_FIELDS | ({"cardData"} if _flag(query, "cardData") else set())
        if keep is not None:
            found = [{key: value for key, value in info.items() if key in keep} for info in found]
        self._send_page(found, query, int(one.get("limit") or 0))

    def _tree(self, repo_id: str, rev: str, folder: str, query: dict[str, list[str]]) -> None:
        repo = self._access(repo_id)
        commit = self._commit_at(repo, rev)
        with self.server.hub._lock:
            entries = _tree(
                repo,
                commit,
                folder,
                recursive=_flag(query, "recursive"),
                expand=_flag(query, "expand"),
            )
        if entries is None:
            raise HubError(
                404, f"Entry not found: {folder}", "EntryNotFound", {"X-Repo-Commit": commit.sha}
            )
        self._send_page(entries, query, 0)

    def _paths_info(self, repo_id: str, rev: str, body: bytes) -> None:
        repo = self._access(repo_id)
        commit = self._commit_at(repo, rev)
        if "json" in self.headers.get("Content-Type", ""):
            payload = json.loads(body or b"{}")
            paths, expand = list(payload.get("paths", [])), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), _flag(form, "expand")
        found = []
        with self.server.hub._lock:
            for path in (p.strip("/") for p in paths):
                if path in commit.files or _under(commit.files, path):
                    found.append(_entry(repo, commit, path, expand=expand))
        self._send_json(found)

    def _commits(self, repo_id: str, rev: str, query: dict[str, list[str]]) -> None:
        repo = self._access(repo_id)
        commit: Commit | None = self._commit_at(repo, rev)
        history = []
        while commit is not None:
            history.append(
                {
                    "id": commit.sha,
                    "title": commit.title,
                    "message": commit.message,
                    "date": _iso(commit.date),
                    "authors": [{"user": commit.author, "avatar": None}],
                }
            )
            commit = repo.commits[commit.parent] if commit.parent else None
        self._send_page(history, query, 0)

    def _refs(self, repo_id: str, query: dict[str, list[str]]) -> None:
        repo = self._access(repo_id)

        def refs(kind: str, named: dict[str, str]) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": s}
                for n, s in sorted(named.items())
            ]

        with self.server.hub._lock:
            data: dict[str, Any] = {
                "branches": refs("heads", repo.branches),
                "converts": [],
                "tags": refs("tags", repo.tag_refs),
            }
        if "include_prs" in query:
            data["pullRequests"] = []
        self._send_json(data)

    # -- files -------------------------------------------------------------------------

    def _resolve(self, repo_id: str, rev: str, name: str) -> None:
        hub = self.server.hub
        repo = self._access(repo_id, content=True)
        commit = self._commit_at(repo, rev)
        blob = commit.files.get(name)
        if blob is None:
            # The client caches the file's absence for this commit, read from X-Repo-Commit.
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{blob.etag}"', "Accept-Ranges": "bytes"}
        if blob.sha256:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)})
            if hub.redirect_lfs:
                signed = urlencode({"Expires": int(time.time()) + 3600, "Signature": "fake"})
                oid = blob.sha256
                location = f"{hub.cdn_url}/repos/{oid[:2]}/{oid[2:4]}/{oid}/{quote(name)}"
                headers["Location"] = f"{location}?{signed}"
                text = f"Found. Redirecting to {headers['Location']}".encode()
                return self._send_bytes(302, text, headers, "text/plain; charset=utf-8")
        self._send_file(blob, name, headers)

    def _cdn(self, seg: list[str]) -> None:
        if self.command not in ("GET", "HEAD") or len(seg) < 5 or seg[0] != "repos":
            raise HubError(404, "NoSuchKey")
        with self.server.hub._lock:
            blob = self.server.hub._lfs_blobs.get(seg[3])
        if blob is None:
            raise HubError(404, "NoSuchKey")
        name = "/".join(seg[4:])
        shown = quote(name.rsplit("/", 1)[-1])
        headers = {
            "ETag": f'"{blob.sha256}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"attachment; filename*=UTF-8''{shown}; filename=\"{shown}\";",
        }
        self._send_file(blob, name, headers)

    def _send_file(self, blob: Blob, name: str, headers: dict[str, str]) -> None:
        start, last, status = 0, blob.size - 1, 200
        if "Range" in self.headers:
            try:
                span = _byte_range(self.headers["Range"], blob.size)
            except ValueError:
                span = (0, blob.size - 1)  # a malformed Range is ignored, as RFC 9110 allows
            if span is None:
                raise HubError(
                    416,
                    "Requested Range Not Satisfiable",
                    None,
                    {"Content-Range": f"bytes */{blob.size}"},
                )
            (start, last), status = span, 206
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{last}/{blob.size}"
        self._start_answer(status, headers, "application/octet-stream", last - start + 1)
        if self.command == "GET":
            self._stream(blob, name, start, last - start + 1)

    def _stream(self, blob: Blob, name: str, start: int, length: int) -> None:
        hub = self.server.hub
        corrupt = hub.faults._take("corrupt", "GET", self._path, name) is not None
        drop = hub.faults._take("drop", "GET", self._path)
        stall = hub.faults._take("stall", "GET", self._path)
        sent = 0
        with blob.path.open("rb") as source:
            source.seek(start)
            while sent < length:
                if drop is not None and sent >= drop.n_bytes:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if stall is not None and sent >= stall.n_bytes:
                    if hub._stopping.wait(stall.seconds):
                        self.close_connection = True
                        return
                    stall = None
                step = min(
                    _CHUNK,
                    length - sent,
                    *(f.n_bytes - sent for f in (drop, stall) if f is not None),
                )
                data = source.read(step)
                if not data:
                    raise ConnectionError(f"{blob.path} is shorter than announced")
                self.wfile.write(data.translate(_CORRUPT) if corrupt else data)
                sent += len(data)
                self._record.body_bytes = sent

    def _start_answer(
        self, status: int, headers: Mapping[str, str], content_type: str, length: int
    ) -> None:
        self._answered = True
        self._record.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_bytes(
        self, status: int, body: bytes, headers: Mapping[str, str], content_type: str
    ) -> None:
        self._start_answer(status, headers, content_type, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)
            self._record.body_bytes = len(body)

    def _send_json(self, data: object, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(
            200, json.dumps(data).encode(), headers or {}, "application/json; charset=utf-8"
        )

    def _send_page(self, items: list[Any], query: dict[str, list[str]], limit: int) -> None:
        """One page of a listing, with a GitHub-style ``Link: <...>; rel="next"`` if more remain."""
        size = min(limit or self.server.hub.page_size, self.server.hub.page_size)
        offset = _cursor(query)
        headers = {}
        if offset + size < len(items):
            following = {name: values for name, values in query.items() if name != "cursor"}
            following["cursor"] = [
                base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
            ]
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
            raw = self.path.partition("?")[0]
            headers["Link"] = f'<http://{host}{raw}?{urlencode(following, doseq=True)}>; rel="next"'
        self._send_json(items[offset : offset + size], headers)

    def _send_error(self, error: HubError) -> None:
        headers = dict(error.headers)
        headers["X-Error-Message"] = error.message
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send_bytes(
            error.status, json.dumps({"error": error.message}).encode(), headers, "application/json"
        )
