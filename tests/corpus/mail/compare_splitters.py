"""Measures reply separation on the corpus threads: our splitter vs mail-parser-reply.

    .venv/bin/pip install mail-parser-reply==1.36   # only for this comparison
    .venv/bin/python tests/corpus/mail/compare_splitters.py

A thread counts as split correctly when the new text keeps every sentence the person wrote
and drops every quoted or signature marker listed in make_corpus.THREAD_EXPECTATIONS.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from shared.domain.mail import parse_message, split_reply  # noqa: E402

spec = importlib.util.spec_from_file_location("make_corpus", HERE / "make_corpus.py")
assert spec is not None
assert spec.loader is not None
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "ja"]


def approaches() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {"rules (shared.domain.mail)": split_reply}
    try:
        from mailparser_reply import EmailReplyParser
    except ImportError:
        print("mail-parser-reply not installed; measuring our splitter only")
        return found

    def library_body(text: str) -> str:
        message = EmailReplyParser(languages=list(LANGUAGES)).read(text)
        return message.replies[0].body if message.replies else ""

    def library_latest(text: str) -> str:
        return EmailReplyParser(languages=list(LANGUAGES)).parse_reply(text) or ""

    found["mail-parser-reply .replies[0].body"] = library_body
    found["mail-parser-reply .parse_reply()"] = library_latest
    return found


def main() -> None:
    expectations = corpus.THREAD_EXPECTATIONS
    for label, split in approaches().items():
        good = 0
        failures = []
        for name, (must, must_not) in expectations.items():
            text = parse_message((HERE / f"{name}.eml").read_bytes()).text
            new = split(text)
            missing = [m for m in must if m not in new]
            leaked = [m for m in must_not if m in new]
            if missing or leaked:
                failures.append(f"    {name}: missing {missing} leaked {leaked}")
            else:
                good += 1
        print(f"{label}: {good}/{len(expectations)} threads split correctly")
        print("\n".join(failures))


if __name__ == "__main__":
    main()
