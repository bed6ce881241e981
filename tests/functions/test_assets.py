"""The asset library over HTTP: a Drive folder indexed by real tasks, kept fresh through the
changes feed by `maintenance`, and searched the way the draft step will search it."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
import requests
from docx import Document
from fpdf import FPDF
from google.cloud import firestore

from devstack import seed
from devstack.stack import OPERATOR_ACCOUNT, ROOT, SCHEDULER_INVOKER
from tests.conftest import serve_function

pytestmark = pytest.mark.stack
VOICE = ROOT / "functions/voice/main.py"
MAINTENANCE = ROOT / "functions/maintenance/main.py"
REP = seed.REP_EMAIL
DOC = "application/vnd.google-apps.document"
SECURITY = (
    "Healthcare security one-pager\n\n"
    "Data Residency\n\n"
    "Patient data stays in EU data centres. Everything is encrypted at rest with AES-256 and in "
    "transit with TLS 1.3. We sign a BAA and a DPA with every healthcare customer.\n\n"
    "Access Control\n\n"
    "Single sign-on, role-based access and audit logs of every access to patient records."
)
INTERNAL = (
    "Internal security notes\n\n"
    "Open findings from the last penetration test on patient data encryption, not for "
    "customers."
)


def pricing_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_title("Pricing sheet")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Pricing sheet\n\nTeam plan: 49 USD per seat per month, up to 25 seats.")
    pdf.add_page()
    pdf.multi_cell(0, 6, "Enterprise plan: volume pricing, annual invoicing, premium support.")
    return bytes(pdf.output())


def case_study_docx() -> bytes:
    document = Document()
    document.add_heading("Northwind retail case study", level=1)
    document.add_heading("Results", level=2)
    document.add_paragraph(
        "Northwind cut forecast error from 14% to 8% across 300 stores in one quarter, and "
        "reduced stock-outs during the seasonal peak."
    )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def servers(stack):
    env = {**stack.env(), "VOICE_PROFILE_DEBOUNCE_SECONDS": "1"}
    voice = serve_function("voice", VOICE, env, stack.function_ports["voice"])
    maintenance = serve_function("maintenance", MAINTENANCE, env)
    yield voice, maintenance
    voice.stop()
    maintenance.stop()


class Library:
    def __init__(self, stack: Any, voice: Any, maintenance: Any) -> None:
        self.stack = stack
        self.voice = voice
        self.maintenance = maintenance
        self.drive = stack.fakes["drive"][0]
        self.db = firestore.Client(project=stack.project)

    def headers(self, email: str = OPERATOR_ACCOUNT, audience: str | None = None) -> dict[str, str]:
        token = self.stack.issuer.sign(audience or self.stack.function_url("voice"), email)
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.voice.url}{path}", headers=self.headers(), timeout=60, **kwargs
        )

    def assets(self) -> dict[str, dict[str, Any]]:
        answer = self.call("GET", "/assets")
        assert answer.status_code == 200, answer.text
        return {a["title"]: a for a in answer.json()["assets"]}

    def wait_indexed(self, count: int, timeout: float = 45.0) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        found: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            found = self.assets()
            done = [a for a in found.values() if a["status"] in ("indexed", "failed")]
            if len(done) >= count and self.idle():
                return found
            time.sleep(0.3)
        raise AssertionError(f"not indexed in time: {found}")

    def idle(self) -> bool:
        return bool(self.stack.tasks.wait_idle(0.1))

    def approve(self, title: str, **tags: Any) -> None:
        asset = self.assets()[title]
        answer = self.call("PATCH", f"/assets/{asset['id']}", json={"approved": True, **tags})
        assert answer.status_code == 200, answer.text

    def search(self, text: str, **tags: Any) -> list[dict[str, Any]]:
        assert self.stack.tasks.wait_idle(20)  # the debounced index rebuild has run
        answer = self.call("POST", "/assets/search", json={"text": text, **tags})
        assert answer.status_code == 200, answer.text
        return answer.json()["hits"]

    def run_maintenance(self) -> dict[str, Any]:
        token = self.stack.issuer.sign(self.stack.function_url("maintenance"), SCHEDULER_INVOKER)
        answer = requests.post(
            self.maintenance.url + "/", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def passages(self, asset_id: str) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.db.collection("asset_passages").where(
            filter=FieldFilter("asset_id", "==", asset_id)
        )
        return [p.to_dict() for p in query.stream()]


@pytest.fixture
def library(local, servers):
    seed.seed(local)
    return Library(local, *servers)


@pytest.fixture
def folder(library):
    drive = library.drive
    root = drive.add_folder(REP, "Sales material")
    sub = drive.add_folder(REP, "Case studies", parents=[root])
    ids = {
        "security": drive.add_file(
            REP, "Healthcare security one-pager", DOC, SECURITY, parents=[root]
        ),
        "internal": drive.add_file(REP, "Internal security notes", DOC, INTERNAL, parents=[root]),
        "pricing": drive.add_file(
            REP, "Pricing sheet", "application/pdf", pricing_pdf(), parents=[root]
        ),
        "case": drive.add_file(
            REP,
            "Northwind case study",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            case_study_docx(),
            parents=[sub],
        ),
        "sheet": drive.add_file(
            REP, "Pipeline", "application/vnd.google-apps.spreadsheet", "a,b", parents=[root]
        ),
    }
    answer = library.call(
        "POST",
        "/assets/sources",
        json={"folder": f"https://drive.google.com/drive/folders/{root}", "account": REP},
    )
    assert answer.status_code == 202, answer.text
    library.wait_indexed(4)
    return root, ids


def test_a_folder_is_indexed_with_heading_paths_and_pages(library, folder):
    assets = library.assets()

    assert set(assets) == {
        "Healthcare security one-pager",
        "Internal security notes",
        "Pricing sheet",
        "Northwind case study",
    }  # the Sheet is not an indexable type
    assert all(a["status"] == "indexed" for a in assets.values())
    security = library.passages(assets["Healthcare security one-pager"]["id"])
    assert any("Data Residency" in p["heading_path"] for p in security)
    pricing = library.passages(assets["Pricing sheet"]["id"])
    assert {p["page"] for p in pricing} == {1, 2}
    assert all(a["link"] and a["link"].startswith("https://") for a in assets.values())


def test_the_right_one_pager_is_found_and_unapproved_assets_never_appear(library, folder):
    library.approve("Healthcare security one-pager", industry=["healthcare"])
    library.approve("Pricing sheet")
    library.approve("Northwind case study", industry=["retail"])

    hits = library.search(
        "How do you keep our patient data secure and where is it stored?", industry="healthcare"
    )

    assert hits[0]["title"] == "Healthcare security one-pager"
    assert "Internal security notes" not in {h["title"] for h in hits}
    assert len({h["asset_id"] for h in hits}) == len(hits)  # one passage per file
    assert hits[0]["link"].startswith("https://")
    assert "Healthcare security one-pager" in hits[0]["citation"]
    pricing = library.search("What does it cost per seat?")
    assert pricing[0]["title"] == "Pricing sheet"


def test_the_changes_feed_keeps_the_index_fresh(library, folder):
    _, ids = folder
    library.approve("Pricing sheet")
    library.approve("Northwind case study")
    before = library.assets()
    library.drive.clear_requests()
    library.drive.update_content(ids["case"], _edited_case_study())
    library.drive.delete(ids["pricing"])
    library.drive.trash(ids["internal"])

    report = library.run_maintenance()
    assert report["assets"]["removed"] == 2
    assert report["assets"]["queued"] == 1
    after = library.wait_indexed(2)

    assert set(after) == {"Healthcare security one-pager", "Northwind case study"}
    assert library.passages(before["Pricing sheet"]["id"]) == []
    assert library.passages(before["Internal security notes"]["id"]) == []
    case = library.passages(after["Northwind case study"]["id"])
    assert any("11%" in p["text"] for p in case)
    assert not any("14% to 8%" in p["text"] for p in case)
    downloads = [
        r for r in library.drive.requests if r["method"] == "GET" and ids["security"] in r["path"]
    ]
    assert downloads == []  # the unchanged file cost nothing
    assert library.run_maintenance()["assets"] == {"queued": 0, "removed": 0, "ignored": 0}


def _edited_case_study() -> bytes:
    document = Document()
    document.add_heading("Northwind retail case study", level=1)
    document.add_heading("Results", level=2)
    document.add_paragraph("Northwind cut forecast error to 11% in its first month.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_uploads_are_indexed_and_bad_requests_change_nothing(library):
    upload = requests.post(
        f"{library.voice.url}/assets",
        files={
            "file": (
                "battlecard.md",
                b"# Battlecard\n\n## Versus spreadsheets\n\nWe win.",
                "text/markdown",
            )
        },
        headers=library.headers(),
        timeout=30,
    )
    assert upload.status_code == 202, upload.text
    assets = library.wait_indexed(1)
    assert assets["battlecard.md"]["status"] == "indexed"

    bad_folder = library.call("POST", "/assets/sources", json={"folder": "../etc", "account": REP})
    bad_tags = library.call(
        "PATCH", f"/assets/{assets['battlecard.md']['id']}", json={"approved": "yes"}
    )
    stranger = requests.get(
        f"{library.voice.url}/assets", headers=library.headers("x@evil.example"), timeout=30
    )
    assert (bad_folder.status_code, bad_tags.status_code, stranger.status_code) == (400, 400, 401)
    assert library.assets()["battlecard.md"]["tags"]["approved"] is False
    assert list(library.db.collection("asset_sources").stream()) == []
