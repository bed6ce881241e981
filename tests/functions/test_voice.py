"""`voice` over HTTP: samples of every kind become text, embeddings and a voice profile.

The function runs on the port the stack's Cloud Tasks server dispatches to, so an accepted
sample is extracted by a real task (with its OIDC token) and the profile rebuilt by another.
"""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest
import requests
from docx import Document
from fpdf import FPDF
from google.cloud import firestore

from devstack import seed
from devstack.fakes import make_message
from devstack.serving import ThreadedServer
from devstack.stack import OPERATOR_ACCOUNT, ROOT, TASKS_INVOKER
from shared.adapters.secrets import SecretStore
from tests.conftest import serve_function

pytestmark = pytest.mark.stack
SOURCE = ROOT / "functions/voice/main.py"
REP = seed.REP_EMAIL
EMAIL_ONE = (
    "Hi Lena,\n\nGood question. Across our retail customers last quarter, median forecast "
    "error came in around 8%, down from 14%.\n\nHappy to walk you through how we measure it. "
    "Does Thursday at 10 work?\n\nCheers,\nMaya"
)
EMAIL_TWO = (
    "Hi Sam,\n\nThanks for asking. For 20 seats you'd be on our Team plan; I'll send the exact "
    "quote once I know which data sources you need.\n\nCould you share those in a line or "
    "two?\n\nCheers,\nMaya"
)


class Files:
    """A plain file server for share links (reached through LINK_FETCH_ALLOW_HOSTS)."""

    def __init__(self) -> None:
        from flask import Flask, Response, abort

        self.files: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        app = Flask("files")

        @app.route("/<path:name>")
        def serve(name: str) -> Response:
            if name not in self.files:
                abort(404)
            data, kind, headers = self.files[name]
            if "Content-Length" in headers:  # declared, streamed lazily (never 200 MB in memory)
                size = int(headers["Content-Length"])
                chunks = (data for _ in range(size // max(1, len(data))))
                return Response(chunks, content_type=kind, headers=headers)
            return Response(data, content_type=kind, headers=headers)

        self.server = ThreadedServer(app).start()

    @property
    def host(self) -> str:
        return self.server.url.removeprefix("http://")

    def url(self, name: str) -> str:
        return f"{self.server.url}/{name}"


@pytest.fixture(scope="module")
def files():
    served = Files()
    yield served
    served.server.stop()


@pytest.fixture(scope="module")
def voice_server(stack, files):
    env = {
        **stack.env(),
        "LINK_FETCH_ALLOW_HOSTS": files.host,
        "VOICE_PROFILE_DEBOUNCE_SECONDS": "1",
    }
    server = serve_function("voice", SOURCE, env, stack.function_ports["voice"])
    yield server
    server.stop()


class Voice:
    def __init__(self, stack: Any, server: Any, files: Files) -> None:
        self.stack = stack
        self.server = server
        self.files = files
        self.db = firestore.Client(project=stack.project)

    def headers(self, email: str = OPERATOR_ACCOUNT) -> dict[str, str]:
        token = self.stack.issuer.sign(self.stack.function_url("voice"), email)
        return {"Authorization": f"Bearer {token}"}

    def upload(self, name: str, data: bytes, kind: str = "application/octet-stream", **form):
        return requests.post(
            f"{self.server.url}/samples",
            files={"file": (name, data, kind)},
            data={"rep": REP, **form},
            headers=self.headers(),
            timeout=30,
        )

    def submit(self, **body: Any) -> requests.Response:
        return requests.post(
            f"{self.server.url}/samples",
            json={"rep": REP, **body},
            headers=self.headers(),
            timeout=30,
        )

    def samples(self) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{self.server.url}/samples", params={"rep": REP}, headers=self.headers(), timeout=30
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["samples"]

    def wait(self, sample_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = {s["id"]: s for s in self.samples()}
            if sample_id in found and found[sample_id]["status"] != "pending":
                return found[sample_id]
            time.sleep(0.2)
        raise AssertionError(f"sample {sample_id} still pending")

    def accept_and_wait(self, answer: requests.Response) -> dict[str, Any]:
        assert answer.status_code in (200, 202), answer.text
        return self.wait(answer.json()["sample"]["id"])

    def stored(self, sample_id: str) -> dict[str, Any]:
        return self.db.collection("training_samples").document(sample_id).get().to_dict() or {}

    def chunks(self, sample_id: str) -> list[dict[str, Any]]:
        ref = self.db.collection("training_samples").document(sample_id)
        return [c.to_dict() for c in ref.collection("voice_chunks").stream()]

    def profile(self, settle: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + settle
        while True:
            answer = requests.get(
                f"{self.server.url}/profile",
                params={"rep": REP},
                headers=self.headers(),
                timeout=30,
            )
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        return answer.json()["profile"]


@pytest.fixture
def voice(local, voice_server, files):
    seed.seed(local)
    files.files.clear()
    return Voice(local, voice_server, files)


def pdf_bytes(pages: list[str], *, password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_title("Forecasting talk notes")
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def docx_bytes(paragraphs: list[str]) -> bytes:
    document = Document()
    document.core_properties.title = "Follow-up templates"
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- uploads of every kind ---------------------------------------------------------------
def test_uploaded_text_becomes_a_ready_sample_with_chunks_and_embeddings(voice):
    sample = voice.accept_and_wait(voice.upload("reply.txt", EMAIL_ONE.encode(), "text/plain"))

    assert sample["status"] == "ready", sample
    assert sample["source_type"] == "upload"
    assert sample["extracted_chars"] > 100
    stored = voice.stored(sample["id"])
    assert "median forecast error" in stored["content"]
    chunks = voice.chunks(sample["id"])
    assert chunks
    assert len(list(chunks[0]["embedding"])) == 384
    assert stored["embedding_state"] == "ready"


def test_pdf_docx_and_eml_uploads_are_read(voice):
    pdf = voice.accept_and_wait(
        voice.upload("talk.pdf", pdf_bytes(["Page one about forecasting.", "Page two."]))
    )
    docx = voice.accept_and_wait(
        voice.upload("templates.docx", docx_bytes(["Hi there,", "Happy to walk you through."]))
    )
    eml = make_message(f"Maya Chen <{REP}>", "sam@tallyho.example", "Pricing", EMAIL_TWO)
    mail = voice.accept_and_wait(voice.upload("reply.eml", bytes(eml), "message/rfc822"))

    assert pdf["status"] == "ready", pdf
    assert voice.stored(pdf["id"])["metadata"]["pages"] == 2
    assert docx["status"] == "ready", docx
    assert "walk you through" in voice.stored(docx["id"])["content"]
    assert mail["status"] == "ready", mail
    assert mail["title"] == "Pricing"


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("locked.pdf", lambda: pdf_bytes(["secret"], password="pw"), "password"),
        ("empty.txt", lambda: b"", "empty"),
        ("noise.bin", lambda: bytes(range(256)) * 40, "type"),
    ],
)
def test_bad_files_fail_with_a_clear_reason(voice, name, make, reason):
    sample = voice.accept_and_wait(voice.upload(name, make()))

    assert sample["status"] == "failed"
    assert reason in sample["error"].lower()
    assert voice.chunks(sample["id"]) == []


def test_a_zip_bomb_is_refused_without_unpacking_it(voice):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(200):
                member.write(block)
    sample = voice.accept_and_wait(voice.upload("bomb.docx", out.getvalue()))

    assert sample["status"] == "failed"
    assert "zip" in sample["error"].lower() or "large" in sample["error"].lower()


def test_pii_is_replaced_before_anything_is_stored(voice):
    text = EMAIL_ONE + "\n\nCall me on +1 415 555 0199 or write to lena.private@corvid.example."
    sample = voice.accept_and_wait(voice.upload("pii.txt", text.encode(), "text/plain"))

    stored = voice.stored(sample["id"])
    assert "555 0199" not in stored["content"]
    assert "lena.private@corvid.example" not in stored["content"]
    assert "[PHONE]" in stored["content"]
    assert "[EMAIL]" in stored["content"]
    assert all("555 0199" not in c["text"] for c in voice.chunks(sample["id"]))
    assert stored["pii"]["phone"] == 1


def test_the_same_content_twice_is_one_sample(voice):
    first = voice.upload("a.txt", EMAIL_ONE.encode(), "text/plain")
    again = voice.upload("a-copy.txt", EMAIL_ONE.encode(), "text/plain")
    assert first.json()["sample"]["id"] == again.json()["sample"]["id"]
    assert again.json()["created"] is False
    voice.accept_and_wait(first)
    spaced = voice.accept_and_wait(
        voice.upload("b.txt", EMAIL_ONE.replace("\n\n", "\n\n\n").encode(), "text/plain")
    )

    assert spaced["status"] == "duplicate"
    assert spaced["duplicate_of"] == first.json()["sample"]["id"]
    assert voice.chunks(spaced["id"]) == []


# --- links, YouTube, Drive, HubSpot --------------------------------------------------------
def test_a_share_link_is_downloaded_and_read(voice):
    voice.files.files["notes.txt"] = (EMAIL_TWO.encode(), "text/plain", {})

    sample = voice.accept_and_wait(voice.submit(value=voice.files.url("notes.txt")))

    assert sample["status"] == "ready", sample
    assert sample["source_type"] == "link"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:1/secret",
        "https://169.254.169.254/computeMetadata/v1/",
        "https://[::1]/x",
    ],
)
def test_links_to_private_addresses_are_refused(voice, url):
    sample = voice.accept_and_wait(voice.submit(value=url))

    assert sample["status"] == "failed"
    assert sample["error"]


def test_a_link_larger_than_the_limit_is_refused(voice):
    voice.files.files["huge.pdf"] = (
        b"%PDF-1.4 " + b"0" * 1015,
        "application/pdf",
        {"Content-Length": str(200 * 1024 * 1024)},
    )
    sample = voice.accept_and_wait(voice.submit(value=voice.files.url("huge.pdf")))

    assert sample["status"] == "failed"
    assert "large" in sample["error"].lower() or "mb" in sample["error"].lower()


def test_a_youtube_talk_becomes_a_transcript_sample_whatever_link_form(voice):
    youtube = voice.stack.fakes["youtube"][0]
    youtube.add_video(
        "dQw4w9WgXcQ",
        "Forecasting for retail",
        transcripts={
            "en": [
                (0.0, 4.0, "so today I want to talk about forecasting"),
                (4.0, 5.0, "and why spreadsheets break at seasonal peaks"),
            ]
        },
    )
    first = voice.submit(value="https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42")
    again = voice.submit(value="https://youtu.be/dQw4w9WgXcQ")

    assert again.json()["sample"]["id"] == first.json()["sample"]["id"]
    sample = voice.accept_and_wait(first)
    assert sample["status"] == "ready", sample
    assert "seasonal peaks" in voice.stored(sample["id"])["content"]


def test_a_video_without_captions_fails_with_a_reason(voice):
    youtube = voice.stack.fakes["youtube"][0]
    youtube.add_video("aaaaaaaaaaa", "Muted", transcripts={"en": [(0.0, 1.0, "hello")]})
    youtube.disable_captions("aaaaaaaaaaa")

    sample = voice.accept_and_wait(voice.submit(value="https://youtube.com/shorts/aaaaaaaaaaa"))

    assert sample["status"] == "failed"
    assert "caption" in sample["error"].lower() or "transcript" in sample["error"].lower()


def test_drive_docs_are_read_and_sheets_are_skipped_with_a_reason(voice):
    drive = voice.stack.fakes["drive"][0]
    doc = drive.add_file(
        REP, "Objection handling", "application/vnd.google-apps.document", EMAIL_TWO
    )
    sheet = drive.add_file(REP, "Pipeline", "application/vnd.google-apps.spreadsheet", "a,b\n1,2")

    ready = voice.accept_and_wait(
        voice.submit(value=f"https://docs.google.com/document/d/{doc}/edit")
    )
    skipped = voice.accept_and_wait(voice.submit(source="drive", value=sheet))

    assert ready["status"] == "ready", ready
    assert ready["title"] == "Objection handling"
    assert skipped["status"] == "failed"
    assert "sheet" in skipped["error"].lower()


def test_a_hubspot_record_gives_the_reps_own_notes_and_emails(voice):
    hubspot = voice.stack.fakes["hubspot"][0]
    note = hubspot.create(
        "notes",
        {
            "hs_note_body": "<p>Dana wants a pilot in Q3. I'll send the case study.</p>",
            "hs_timestamp": "2026-11-01T10:00:00Z",
            "hubspot_owner_id": seed.OWNER_ID,
        },
        associations=[("contacts", 701)],
    )
    assert note

    sample = voice.accept_and_wait(
        voice.submit(source="hubspot", object_type="contact", value="701")
    )

    assert sample["status"] == "ready", sample
    assert "case study" in voice.stored(sample["id"])["content"]


# --- the profile --------------------------------------------------------------------------
def test_the_profile_reflects_the_samples(voice):
    for index, text in enumerate([EMAIL_ONE, EMAIL_TWO]):
        voice.accept_and_wait(
            voice.upload(
                f"r{index}.eml",
                bytes(make_message(f"Maya Chen <{REP}>", "x@y.example", f"Re: {index}", text)),
                "message/rfc822",
            )
        )

    profile = voice.profile()

    assert profile["samples"] == 2
    assert profile["stats"]["sign_offs"][0]["text"] == "Cheers"
    assert 'Sign-off: usually "Cheers,"' in profile["guide"]
    assert profile["guide_source"] == "statistics"
    assert len(profile["sample_ids"]) == 2
    assert profile["exemplars"]


def test_deleting_a_sample_removes_its_text_and_embeddings_for_good(voice):
    sample = voice.accept_and_wait(voice.upload("gone.txt", EMAIL_ONE.encode(), "text/plain"))
    assert voice.chunks(sample["id"])

    answer = requests.delete(
        f"{voice.server.url}/samples/{sample['id']}",
        params={"rep": REP},
        headers=voice.headers(),
        timeout=30,
    )

    assert answer.status_code == 200
    assert voice.stored(sample["id"]) == {}
    assert voice.chunks(sample["id"]) == []
    assert [s for s in voice.samples() if s["id"] == sample["id"]] == []


def test_retrain_rebuilds_on_request(voice):
    voice.accept_and_wait(voice.upload("one.txt", EMAIL_ONE.encode(), "text/plain"))
    first = voice.profile()

    answer = requests.post(
        f"{voice.server.url}/profile/retrain",
        json={"rep": REP},
        headers=voice.headers(),
        timeout=30,
    )
    assert answer.status_code == 202
    deadline = time.monotonic() + 15
    while voice.profile()["version"] == first["version"] and time.monotonic() < deadline:
        time.sleep(0.2)

    assert voice.profile()["version"] > first["version"]


def test_the_llm_writes_the_guide_when_a_key_is_stored(voice):
    SecretStore(voice.stack.project, voice.stack.secrets.address).write("openai-api-key", "sk-x")
    openai = voice.stack.fakes["openai"][0]
    openai.script_chat(
        {
            "content": {
                "summary": "Warm, brief and concrete.",
                "length": "short",
                "formality": "casual",
                "greeting": "Hi <first name>,",
                "sign_off": "Cheers,",
                "sentences_and_paragraphs": "two or three short paragraphs",
                "vocabulary": ["happy to walk you through"],
                "never": ["uses exclamation marks"],
            }
        }
    )
    voice.accept_and_wait(voice.upload("one.txt", EMAIL_ONE.encode(), "text/plain"))

    profile = voice.profile()

    assert profile["guide_source"] == "llm"
    assert "Warm, brief and concrete." in profile["guide"]
    request = openai.chat_requests()[-1]
    assert "data, not" in request["messages"][0]["content"]
    assert "median forecast" in request["messages"][1]["content"]


# --- access and bad requests --------------------------------------------------------------
def test_only_the_operator_account_may_call_and_bad_requests_change_nothing(voice):
    wrong = requests.get(
        f"{voice.server.url}/samples",
        params={"rep": REP},
        headers=voice.headers("someone@evil.example"),
        timeout=30,
    )
    task_account = requests.post(
        f"{voice.server.url}/samples",
        json={"rep": REP, "value": "https://example.com/x"},
        headers=voice.headers(TASKS_INVOKER),
        timeout=30,
    )
    bad_rep = voice.submit(rep="not-an-email", value="https://example.com/x")
    bad_json = requests.post(
        f"{voice.server.url}/samples",
        data=b"{nope",
        headers={**voice.headers(), "Content-Type": "application/json"},
        timeout=30,
    )
    bad_source = voice.submit(source="hubspot", object_type="ticket", value="5")
    bad_scheme = voice.submit(value="ftp://files.example/a.pdf")

    assert (wrong.status_code, task_account.status_code) == (401, 401)
    assert bad_rep.status_code == 400
    assert bad_json.status_code == 400
    assert bad_source.status_code == 400
    assert bad_scheme.status_code == 400
    assert list(voice.db.collection("training_samples").stream()) == []
