"""A Hub-compatible HTTP server on 127.0.0.1 for the tests: just the endpoints huggingface_hub 2.4 uses.

It serves model repos kept in memory, with real git-style SHAs: each commit gets a 40-hex id, each
file a git blob id (sha1 of "blob <size>\\0" + bytes, the Hub's ETag for non-LFS files). Branches map
to commits, and files resolve by branch or commit SHA. Preupload answers "regular" for every file,
so no LFS or Xet transfer is involved. A commit naming a parent commit is refused with 412 when
its branch has moved on, as the Hub does. `fault` injects failures into every request ("404", "500",
"hang"), into file downloads only ("truncate", "corrupt", "hang-download") or into commits only
("hang-commit"); a hung request is answered 503 after 30 s or when the server stops. Each request's
Authorization header (None when absent) is kept in `authorizations`. A request this server does not
implement is answered 501 and recorded in `unexpected`, so a test can fail loudly on it.

    with FakeHub() as hub:      # hub.url -> "http://127.0.0.1:PORT"
        ...
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FAULTS = (None, "404", "500", "hang", "hang-commit", "hang-download", "truncate", "corrupt")


def git_blob_id(content: bytes) -> str:
    """The git object id of a blob: what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    """A model repo: commits (sha -> {path: bytes}), branches (name -> sha), and its visibility."""

    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """A commit SHA from a branch name or a (full) commit SHA; None if neither."""
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class FakeHub:
    """The server, its repos, its fault mode and the log of requests it received."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.fault: str | None = None
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        self.authorizations: list[str | None] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering and close the port: afterwards a connection is refused."""
        self.release.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def commit(self, repo_id: str, branch: str, files: dict[str, bytes], message: str = "") -> str:
        """Add a commit on `branch` (creating it from main if needed); returns its SHA."""
        with self._lock:
            repo = self.repos[repo_id]
            parent = repo.branches.get(branch) or repo.branches.get("main")
            tree = dict(repo.commits.get(parent, {})) if parent else {}
            tree.update(files)
            seed = json.dumps([parent, message, sorted((p, git_blob_id(c)) for p, c in tree.items())])
            sha = hashlib.sha1(f"{seed}{len(repo.commits)}".encode()).hexdigest()
            repo.commits[sha] = tree
            repo.messages[sha] = message
            repo.branches[branch] = sha
            return sha

    def create_repo(self, repo_id: str, private: bool = False) -> None:
        with self._lock:
            self.repos[repo_id] = Repo(private=private)
        self.commit(repo_id, "main", {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                    "initial commit")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass

        # --- plumbing -------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length: int | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value, headers: dict | None = None):
            self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str | None, message: str):
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            self._json(status, {"error": message}, headers)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _unexpected(self):
            line = f"{self.command} {self.path}"
            hub.unexpected.append(line)
            print(f"fake_hub: UNEXPECTED REQUEST {line}", file=sys.stderr)
            self._error(501, None, f"fake hub does not implement {line}")

        def _hangs(self) -> bool:
            """Whether the fault in force makes this request go unanswered."""
            if hub.fault == "hang-commit":
                return self.command == "POST" and "/commit/" in self.path
            if hub.fault == "hang-download":
                return self.command == "GET" and "/resolve/" in self.path
            return hub.fault == "hang"

        def _dispatch(self):
            line = f"{self.command} {self.path}"
            hub.requests.append(line)
            hub.authorizations.append(self.headers.get("authorization"))
            if self._hangs():
                hub.release.wait(30)
                return self._error(503, None, "released")
            if hub.fault == "404":
                return self._send(404, b"Not Found")
            if hub.fault == "500":
                return self._send(500, b"Internal Server Error")
            split = urlsplit(self.path)
            parts = [unquote(p) for p in split.path.split("/")[1:]]
            query = parse_qs(split.query)
            try:
                if parts[:1] == ["api"]:
                    return self._api(parts[1:], query)
                if len(parts) >= 5 and parts[2] == "resolve" and self.command in ("GET", "HEAD"):
                    return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            except _Unexpected:
                pass
            return self._unexpected()

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

        # --- endpoints ------------------------------------------------------------------------
        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return repo

        def _commit_of(self, repo: Repo, revision: str) -> str | None:
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return sha

        def _api(self, parts: list[str], query: dict):
            if parts == ["repos", "create"] and self.command == "POST":
                payload = json.loads(self._body())
                repo_id = f"{payload['organization']}/{payload['name']}"
                if repo_id in hub.repos:  # the Hub names the existing repo's url in its 409
                    message = "You already created this model repo"
                    return self._json(409, {"error": message, "url": f"{hub.url}/{repo_id}"}, {"X-Error-Message": message})
                hub.create_repo(repo_id, private=payload.get("visibility") == "private")
                return self._json(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
            if parts == ["agent-harnesses"] and self.command == "GET":  # the client's user-agent registry
                return self._json(200, {"standardEnvVars": [], "harnesses": {}})
            if parts == ["validate-yaml"] and self.command == "POST":
                return self._json(200, {"errors": [], "warnings": []})
            if len(parts) < 3 or parts[0] != "models":
                raise _Unexpected
            repo_id, rest = "/".join(parts[1:3]), parts[3:]
            repo = self._repo(repo_id)
            if repo is None:
                return
            if self.command == "GET" and (rest == [] or rest[:1] == ["revision"]):
                return self._model_info(repo_id, repo, "/".join(rest[1:]) or "main", query)
            if self.command == "GET" and rest[:1] == ["tree"] and len(rest) == 2:
                return self._tree(repo, rest[1])
            if self.command == "POST" and rest[:1] == ["preupload"]:
                return self._preupload(repo, "/".join(rest[1:]))
            if self.command == "POST" and rest[:1] == ["commit"]:
                return self._commit(repo_id, repo, "/".join(rest[1:]))
            if self.command == "POST" and rest[:1] == ["branch"]:
                return self._branch(repo_id, repo, "/".join(rest[1:]))
            raise _Unexpected

        def _model_info(self, repo_id: str, repo: Repo, revision: str, query: dict):
            sha = self._commit_of(repo, revision)
            if sha is None:
                return
            with_blobs = query.get("blobs") == ["True"] or query.get("blobs") == ["true"]
            siblings = [
                {"rfilename": path, **({"size": len(content), "blobId": git_blob_id(content)} if with_blobs else {})}
                for path, content in sorted(repo.commits[sha].items())
            ]
            self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private,
                             "siblings": siblings, "tags": [], "downloads": 0, "likes": 0})

        def _tree(self, repo: Repo, revision: str):
            sha = self._commit_of(repo, revision)
            if sha is None:
                return
            files = repo.commits[sha]
            folders = sorted({"/".join(p.split("/")[:k]) for p in files for k in range(1, p.count("/") + 1)})
            entries = [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in folders]
            entries += [
                {"type": "file", "path": p, "oid": git_blob_id(c), "size": len(c)} for p, c in sorted(files.items())
            ]
            self._json(200, entries)

        def _preupload(self, repo: Repo, revision: str):
            payload = json.loads(self._body())
            current = repo.commits.get(repo.resolve(revision) or "", {})
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                 "oid": git_blob_id(current[f["path"]]) if f["path"] in current else None}
                for f in payload["files"]
            ]
            self._json(200, {"files": files, "commitOid": repo.resolve(revision)})

        def _commit(self, repo_id: str, repo: Repo, branch: str):
            if branch not in repo.branches:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {branch}")
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            if header.get("parentCommit") not in (None, repo.branches[branch]):
                return self._error(412, None, "A commit has happened since. Please refresh and try again.")
            files = {}
            for item in lines:
                if item["key"] == "file":
                    value = item["value"]
                    if value.get("encoding") != "base64":
                        raise _Unexpected
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] != "header":
                    raise _Unexpected
            message = "\n\n".join(part for part in (header["summary"], header.get("description")) if part)
            sha = hub.commit(repo_id, branch, files, message)
            self._json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                             "pullRequestUrl": None, "success": True})

        def _branch(self, repo_id: str, repo: Repo, branch: str):
            body = self._body()
            start = (json.loads(body) if body else {}).get("startingPoint") or "main"
            if branch in repo.branches:
                return self._error(409, None, f"Branch {branch} already exists")
            sha = self._commit_of(repo, start)
            if sha is None:
                return
            repo.branches[branch] = sha
            self._json(200, {})

        def _resolve(self, repo_id: str, revision: str, path: str):
            repo = self._repo(repo_id)
            if repo is None:
                return
            sha = self._commit_of(repo, revision)
            if sha is None:
                return
            content = repo.commits[sha].get(path)
            if content is None:
                headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha, "X-Error-Message": "Entry not found"}
                return self._send(404, b"Entry not found", headers)
            headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_id(content)}"',
                       "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
            if self.command == "GET" and hub.fault == "truncate":
                content = content[: len(content) // 2]
            elif self.command == "GET" and hub.fault == "corrupt":
                middle = len(content) * 3 // 4
                content = content[:middle] + bytes(b ^ 0x5A for b in content[middle:middle + 8]) + content[middle + 8:]
            self._send(200, content, headers)

    return Handler


class _Unexpected(Exception):
    """A request outside what this fake implements."""
