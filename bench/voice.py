"""Voice training: extraction throughput (PDF pages/s, characters/s through extraction, PII
scrubbing, chunking and offline embedding) and the profile rebuild time for 200 samples,
against the Firestore emulator."""

from __future__ import annotations

import io
import time
from typing import Any

from bench.common import Figure, Result, table
from devstack import seed

REP = seed.REP_EMAIL
SAMPLES = 200
PARAGRAPH = (
    "Across our retail customers last quarter, median forecast error came in around eight "
    "percent, down from fourteen with their old spreadsheets. Happy to walk you through how we "
    "measure it, and what the seasonal peaks did to the numbers. "
)


def _pdf(pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for index in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Page {index + 1}. " + PARAGRAPH * 6)
    return bytes(pdf.output())


def _docx(paragraphs: int) -> bytes:
    from docx import Document

    document = Document()
    for index in range(paragraphs):
        document.add_paragraph(f"{index}. {PARAGRAPH}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _timed(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def _extraction_rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    from shared.adapters.embeddings import OfflineMiniLM
    from shared.domain.extraction import extract
    from shared.domain.pii import scrub
    from shared.domain.voice_profile import chunk_text

    rows: list[tuple[str, ...]] = []
    pdf = _pdf(50)
    seconds, extracted = _timed(lambda: extract(pdf, "talk.pdf"))
    pdf_rate = 50 / seconds
    rows.append(
        (
            "PDF, 50 pages (pypdf)",
            f"{50 / seconds:,.0f} pages/s",
            f"{len(extracted.text) / seconds:,.0f}",
        )
    )
    docx = _docx(300)
    seconds, extracted_docx = _timed(lambda: extract(docx, "notes.docx"))
    rows.append(("DOCX, 300 paragraphs", "", f"{len(extracted_docx.text) / seconds:,.0f}"))
    text = extracted.text
    seconds, _ = _timed(lambda: scrub(text))
    rows.append(("PII scrub", "", f"{len(text) / seconds:,.0f}"))
    chunks = chunk_text(text)
    embedder = OfflineMiniLM()
    started = time.perf_counter()
    embedder.embed(chunks[:2])
    load = time.perf_counter() - started
    seconds, _ = _timed(lambda: embedder.embed(chunks), repeat=1)
    rows.append(
        (
            f"offline MiniLM embedding, {len(chunks)} chunks",
            f"{len(chunks) / seconds:,.1f} chunks/s",
            f"{sum(len(c) for c in chunks) / seconds:,.0f}",
        )
    )
    rows.append(("offline model load (first call)", f"{load:.2f} s", ""))
    started = time.perf_counter()
    total = 0
    for data, name in ((pdf, "a.pdf"), (docx, "b.docx")):
        clean = scrub(extract(data, name).text).text
        embedder.embed(chunk_text(clean))
        total += len(clean)
    seconds = time.perf_counter() - started
    rows.append(("whole path: extract + scrub + chunk + embed", "", f"{total / seconds:,.0f}"))
    figures.append(
        Figure(
            "voice extraction: PDF pages/s (pypdf); whole path characters/s (extract, scrub, "
            "chunk, offline embed)",
            f"{pdf_rate:,.0f} pages/s; {total / seconds:,.0f} characters/s",
        )
    )
    return rows


def _profile_rows(stack: Any, figures: list[Figure]) -> list[tuple[str, ...]]:
    from shared.adapters.embeddings import OfflineMiniLM
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.services.voice import TaskTarget, VoiceService

    settings = seed.settings_for(stack)
    tasks = TaskQueue.from_settings(settings)
    tasks.client.pause_queue(name=tasks.queue_path("voice"))
    target = TaskTarget("voice", "http://127.0.0.1:9/tasks", "http://127.0.0.1:9")
    service = VoiceService(
        Store.from_settings(settings),
        tasks,
        extract_target=target,
        profile_target=target,
        fetchers={},
        embedder=OfflineMiniLM,
        guide_writer=lambda: None,
    )
    started = time.perf_counter()
    for index in range(SAMPLES):
        text = (
            f"Hi Sam {index},\n\n{PARAGRAPH}\n\nWould Thursday {index % 7} work?\n\nCheers,\nMaya"
        )
        sample, _ = service.accept(REP, "gmail", key=f"bench-{index}", text=text)
        service.process(sample["id"], 1)
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    profile = service.rebuild_profile(REP, force=True)
    rebuild = time.perf_counter() - started
    started = time.perf_counter()
    service.rebuild_profile(REP)
    unchanged = time.perf_counter() - started
    figures.append(
        Figure(
            f"voice samples ingested (accept + process, emulator); profile rebuild over {SAMPLES}",
            f"{SAMPLES / ingest:.1f} samples/s; {rebuild:.2f} s",
        )
    )
    return [
        (
            f"ingest {SAMPLES} mail samples (accept + process)",
            f"{ingest:.1f} s",
            f"{SAMPLES / ingest:.1f} samples/s",
        ),
        (
            f"profile rebuild, {profile['samples']} samples (statistics guide)",
            f"{rebuild:.2f} s",
            "",
        ),
        ("rebuild again, nothing changed (fingerprint)", f"{unchanged * 1000:.0f} ms", ""),
    ]


def run(stack: Any) -> Result:
    figures: list[Figure] = []
    extraction = table(
        "Voice extraction (one process, pure CPU)",
        ("case", "rate", "characters/s"),
        _extraction_rows(figures),
    )
    profile = table(
        "Voice profile (Firestore emulator, offline embeddings)",
        ("case", "time", "rate"),
        _profile_rows(stack, figures),
    )
    return Result(extraction + "\n" + profile, figures)
