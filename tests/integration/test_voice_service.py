"""The voice service against the emulators: mail samples, the drafter's passage search, and
rebuilds that do nothing when nothing changed."""

from __future__ import annotations

import pytest

from shared.adapters.embeddings import OfflineMiniLM
from shared.adapters.store import Store
from shared.adapters.tasks import TaskQueue
from shared.config import load_settings
from shared.services.voice import SampleStatus, TaskTarget, VoiceService, sample_id_for

pytestmark = pytest.mark.stack
REP = "maya@brightline.example"
PASSAGES = {
    "pricing": "Hi Sam,\n\nFor 20 seats you'd be on our Team plan. I'll send the exact quote "
    "once I know which data sources you need.\n\nCheers,\nMaya",
    "meeting": "Hi Lena,\n\nHappy to walk you through it. Does Thursday at 10 work for a "
    "30 minute call?\n\nCheers,\nMaya",
    "security": "Hi Tom,\n\nWe keep all customer data in the EU, encrypted at rest, and our SOC 2 "
    "report is available under NDA.\n\nCheers,\nMaya",
}


@pytest.fixture
def service(local):
    settings = load_settings()
    target = TaskTarget("voice", "http://127.0.0.1:9/tasks", "http://127.0.0.1:9")
    tasks = TaskQueue.from_settings(settings)
    tasks.client.pause_queue(name=tasks.queue_path("voice"))  # rebuilds are run by hand here
    return VoiceService(
        Store.from_settings(settings),
        tasks,
        extract_target=target,
        profile_target=target,
        fetchers={},
        embedder=OfflineMiniLM,
        guide_writer=lambda: None,
    )


def add_mail(service: VoiceService, key: str, text: str) -> str:
    sample, created = service.accept(REP, "gmail", key=key, text=text, title=key)
    assert created
    assert service.process(sample["id"], 1) == SampleStatus.READY
    return str(sample["id"])


def test_the_reps_sent_mail_becomes_a_ready_sample(service):
    sample_id = add_mail(service, "msg-1", PASSAGES["pricing"])

    stored = service.get_sample(REP, sample_id)
    assert stored["status"] == "ready"
    assert stored["raw_text"] is None  # the unscrubbed text is not kept once extracted
    assert "Team plan" in stored["content"]
    assert sample_id == sample_id_for(REP, "gmail", "msg-1")


def test_the_drafter_finds_the_reps_closest_passage(service):
    ids = {name: add_mail(service, name, text) for name, text in PASSAGES.items()}

    found = service.closest_passages(REP, "Where is our data stored, and is it encrypted?", k=3)

    assert found[0]["sample_id"] == ids["security"]
    assert [f["distance"] for f in found] == sorted(f["distance"] for f in found)
    assert service.closest_passages("someone@else.example", "data", k=3) == []


def test_a_rebuild_over_the_same_samples_changes_nothing(service):
    for name, text in PASSAGES.items():
        add_mail(service, name, text)
    first = service.rebuild_profile(REP)
    again = service.rebuild_profile(REP)

    assert first["version"] == again["version"] == 1
    assert first["samples"] == 3
    forced = service.rebuild_profile(REP, force=True)
    assert forced["version"] == 2
    assert forced["sample_ids"] == first["sample_ids"]


def test_a_task_for_a_finished_or_superseded_sample_does_nothing(service):
    sample_id = add_mail(service, "msg-9", PASSAGES["meeting"])

    assert service.process(sample_id, 1) == SampleStatus.READY
    assert service.process("no-such-sample", 1) == "gone"
