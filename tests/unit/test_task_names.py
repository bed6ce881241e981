import re

from shared.adapters.tasks import task_id

VALID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


def test_names_are_deterministic_and_readable() -> None:
    assert task_id("draft", "wf123", 2) == "draft-wf123-2"
    assert task_id("draft", "wf123", 2) == task_id("draft", "wf123", 2)


def test_invalid_characters_are_replaced_without_collisions() -> None:
    a = task_id("send", "a/b", 1)
    b = task_id("send", "a:b", 1)
    assert VALID.match(a)
    assert VALID.match(b)
    assert a != b


def test_long_names_are_cut_but_stay_unique() -> None:
    a = task_id("voice", "x" * 600)
    b = task_id("voice", "x" * 599 + "y")
    assert len(a) <= 500
    assert VALID.match(a)
    assert a != b
