"""Cloud Function `voice`.

The voice-training API (called by the operator page's service account) and the Cloud Tasks
targets that extract a sample and rebuild a rep's voice profile:

    POST   /samples             multipart upload (rep, file, title?) or JSON reference
    GET    /samples?rep=        the rep's samples with status, source, size, error
    DELETE /samples/<id>?rep=   remove a sample, its text and embeddings for good
    GET    /profile?rep=        the rep's voice profile
    POST   /profile/retrain     {"rep"}: rebuild now
    POST   /tasks/extract       Cloud Tasks: {"sample_id", "generation"}
    POST   /tasks/profile       Cloud Tasks: {"rep"}

The team's asset library lives here too (it reuses the extractors and the embedder):

    POST   /assets/sources      {"folder": Drive folder link or id, "account"}: index a folder
    GET    /assets              the team's assets with status, tags, approval
    POST   /assets              multipart upload, or JSON {"url", "title"?}
    PATCH  /assets/<id>         {"industry", "product", "stage", "approved"}
    DELETE /assets/<id>         out of the index
    POST   /assets/search       {"text", "industry"?, ...}: what a draft would cite
    POST   /tasks/assets        Cloud Tasks: crawl a folder or index one file

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import json
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest, NotFound, PayloadTooLarge
from shared.runtime import Runtime
from shared.services.voice_api import accepted, rep_of, submit_reference, submit_upload
from shared.services.voice_wiring import VoiceWiring
from shared.web import entrypoint, read_body, verify_task_caller

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
WIRING = VoiceWiring(RUNTIME)
_AUDIENCE = SETTINGS.function_url_voice
_JSON_LIMIT = 64 * 1024
_MULTIPART_SLACK = 64 * 1024


def _json_body(request: flask.Request) -> dict[str, Any]:
    try:
        body = json.loads(read_body(request, _JSON_LIMIT) or b"{}")
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _tasks(request: flask.Request, path: str) -> Any:
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, audience=_AUDIENCE)
    body = _json_body(request)
    if path == "/tasks/extract":
        generation = body.get("generation")
        status = WIRING.service.process(
            str(body.get("sample_id") or ""), int(generation) if generation else None
        )
        return {"status": status}
    if path == "/tasks/assets":
        return _asset_task(body)
    if path == "/tasks/profile":
        profile = WIRING.service.rebuild_profile(
            rep_of(body.get("rep")), force=body.get("force") is True
        )
        return {"version": profile.get("version"), "samples": profile.get("samples")}
    raise NotFound("no such task")


def _asset_task(body: dict[str, Any]) -> Any:
    library = WIRING.assets
    if body.get("kind") == "asset-reindex":
        return library.reindex(str(body.get("team") or SETTINGS.team_id))
    if body.get("kind") == "asset-crawl":
        return library.crawl(str(body.get("source_id") or ""))
    if body.get("kind") == "asset-index":
        status = library.index(
            str(body.get("asset_id") or ""),
            body.get("source_id"),
            body.get("file_id"),
        )
        return {"status": status}
    raise BadRequest("unknown asset task")


def _assets(request: flask.Request, path: str) -> Any:
    from shared.domain.assets import BadTags, parse_tags, tags_from_json
    from shared.services.voice_api import asset_folder, situation_of

    library = WIRING.assets
    team = SETTINGS.team_id
    if path == "/assets/sources" and request.method == "POST":
        body = _json_body(request)
        source = library.add_drive_folder(
            team, asset_folder(body.get("folder")), rep_of(body.get("account"))
        )
        return {"source": {k: source[k] for k in ("id", "folder_id", "status")}}, 202
    if path == "/assets" and request.method == "GET":
        return {"assets": [_public_asset(a) for a in library.list_assets(team)]}
    if path == "/assets" and request.method == "POST":
        if (request.mimetype or "").startswith("multipart/"):
            upload = request.files.get("file")
            if upload is None:
                raise BadRequest("multipart uploads need a `file` part")
            data = upload.stream.read(SETTINGS.voice_upload_max_bytes + 1)
            if len(data) > SETTINGS.voice_upload_max_bytes:
                raise PayloadTooLarge("the file is too large")
            asset = library.add_upload(
                team,
                data,
                filename=upload.filename,
                content_type=upload.mimetype,
                title=request.form.get("title"),
            )
        else:
            body = _json_body(request)
            url = str(body.get("url") or "").strip()
            if not url.startswith("https://") and not url.startswith("http://"):
                raise BadRequest("url must be an https link")
            asset = library.add_link(team, url, str(body.get("title") or "") or None)
        return {"asset": _public_asset(asset)}, 202
    if path == "/assets/search" and request.method == "POST":
        body = _json_body(request)
        hits = library.search(team, situation_of(body), limit=min(int(body.get("limit") or 3), 10))
        return {"hits": [hit.as_json() for hit in hits]}
    asset_id = path.removeprefix("/assets/")
    if request.method == "PATCH":
        current = tags_from_json(library.get(asset_id).get("tags"))
        try:
            tags = parse_tags(_json_body(request), current)
        except BadTags as exc:
            raise BadRequest(exc.reason) from None
        library.set_tags(asset_id, tags)
        return {"asset": _public_asset(library.get(asset_id))}
    if request.method == "DELETE":
        library.get(asset_id)
        library.remove(asset_id)
        return {"deleted": True}
    raise NotFound("no such route")


def _public_asset(asset: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "title", "kind", "link", "status", "error", "tags", "passages", "owner")
    return {key: asset.get(key) for key in keys}


def _upload(request: flask.Request) -> Any:
    limit = SETTINGS.voice_upload_max_bytes
    if request.content_length is not None and request.content_length > limit + _MULTIPART_SLACK:
        raise PayloadTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("multipart uploads need a `file` part")
    data = upload.stream.read(limit + 1)
    return accepted(
        *submit_upload(
            WIRING.service,
            rep_of(request.form.get("rep")),
            data,
            filename=upload.filename,
            content_type=upload.mimetype,
            title=request.form.get("title"),
            max_bytes=limit,
        )
    )


@functions_framework.http
@entrypoint("voice", SETTINGS)
def voice(request: flask.Request) -> Any:
    path = "/" + request.path.strip("/")
    if path.startswith("/tasks/"):
        if request.method != "POST":
            raise BadRequest("use POST")
        return _tasks(request, path)
    RUNTIME.verifier.verify(
        request.headers.get("Authorization"),
        audience=_AUDIENCE,
        allowed_emails=SETTINGS.voice_api_callers,
    )
    if path == "/assets" or path.startswith("/assets/"):
        return _assets(request, path)
    service = WIRING.service
    if path == "/samples" and request.method == "POST":
        if (request.mimetype or "").startswith("multipart/"):
            return _upload(request)
        return accepted(
            *submit_reference(service, _json_body(request), SETTINGS.link_fetch_allow_hosts)
        )
    if path == "/samples" and request.method == "GET":
        return {"samples": service.list_samples(rep_of(request.args.get("rep")))}
    if path.startswith("/samples/") and request.method == "DELETE":
        service.delete(rep_of(request.args.get("rep")), path.removeprefix("/samples/"))
        return {"deleted": True}
    if path == "/profile" and request.method == "GET":
        profile = service.profile(rep_of(request.args.get("rep")))
        if profile is None:
            raise NotFound("no profile yet")
        return {"profile": {k: v for k, v in profile.items() if k != "fingerprint"}}
    if path == "/profile/retrain" and request.method == "POST":
        rep = rep_of(_json_body(request).get("rep"))
        service.enqueue_profile(rep, "retrain asked", force=True)
        return {"queued": True}, 202
    raise NotFound("no such route")
