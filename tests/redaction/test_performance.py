"""Bounded work: long stack traces and adversarial inputs are scanned whole, in linear time."""

from __future__ import annotations

import time

import pytest

from botanu.redaction import Redactor

from .corpus import SECRETS, all_needles, leaked

N = 200_000

ADVERSARIAL = {
    "jwt prefixes": "eyJ" * (N // 3),
    "jwt-ish runs": "eyJabcdefgh." * (N // 12),
    "sk- runs": "sk-" * (N // 3),
    "separated sk-": " sk-" * (N // 4),
    "assignments": "a=" * (N // 2),
    "sensitive assignments": "password=" * (N // 9),
    "unterminated quotes": 'password="' * (N // 10),
    "digits": "4" * N,
    "spaced digits": "4 " * (N // 2),
    "card groups": "4111 " * (N // 5),
    "scheme separators": "://" * (N // 3),
    "userinfo": "https://a@" * (N // 10),
    "pem headers": "-----BEGIN PRIVATE KEY-----" * (N // 27),
    "bearer words": "Bearer " * (N // 7),
    "aws prefixes": "AKIA" * (N // 4),
    "open braces": "{" * N,
    "nested brackets": "[" * (N // 2) + "]" * (N // 2),
    "at signs": "@" * N,
    "dotted": "1." * (N // 2),
    "colons": "::" * (N // 2),
    "long url": "https://h/" + "a" * N,
    "long query": "https://h/?" + "a=1&" * (N // 4),
    "long path": "https://h/" + "Ab1/" * (N // 4),
    "closing brackets after a url": "https://x" + ")" * N,
    "dots after a url": "https://x" + "." * N,
    "many urls": "https://u:p@h/?token=x " * (N // 24),
}


def _timed(redactor: Redactor, text: str) -> float:
    start = time.perf_counter()
    redactor.redact_text(text)
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_is_linear(name: str) -> None:
    text = ADVERSARIAL[name]
    # Generous bound (a quadratic scan of 200 KB takes minutes); PII mode adds its own detectors.
    assert _timed(Redactor(), text) < 2.0
    assert _timed(Redactor(pii=True), text) < 2.0


def test_100kb_stack_trace_is_scanned_to_the_end() -> None:
    frame = (
        '  File "/app/service/handlers.py", line 214, in handle\n'
        "    result = client.call(payload, retries=3)\n"
    )
    secrets = [s for s in SECRETS if "\n" not in s.text]
    chunks = []
    for index in range(1000):
        chunks.append(frame)
        if index % 20 == 0:  # a secret every ~2 KB, up to the very end
            chunks.append(f"    locals: {secrets[(index // 20) % len(secrets)].text}\n")
    chunks.append(f"RuntimeError: final failure {secrets[0].text}\n")
    trace = "".join(chunks)
    assert len(trace) > 100_000
    start = time.perf_counter()
    out = Redactor().redact_text(trace)
    elapsed = time.perf_counter() - start
    assert leaked(all_needles(), out) == []
    assert out.count('File "/app/service/handlers.py"') == 1000
    assert elapsed < 1.0
