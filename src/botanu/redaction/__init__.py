"""Redaction: no secret leaves the process.

botanu wraps the exporting span processor in a :class:`RedactingSpanProcessor`, which hands
the exporter a redacted *copy* of every span. What is redacted:

* **values under secret names** (``password``, ``api_key``, ``authorization``, ``cookie``,
  ``session_id``, ``client_secret``, ``ssn``, ``card_number``, ... matched word by word, so
  ``author``, ``token_count`` or ``password_reset_page_views`` are left alone);
* **secret-shaped text anywhere**, also inside messages, JSON and stack traces: JWTs,
  ``Bearer`` / ``Basic`` credentials, AWS, GitHub, Slack, Stripe, OpenAI, Anthropic, Google,
  GitLab, npm, PyPI, Hugging Face and SendGrid keys, PEM private keys, passwords in URLs and
  DSNs, Luhn-valid card numbers, and ``password=...`` / ``"token": "..."`` / ``key=<random>``
  assignments;
* **URLs**: userinfo, values of secret query parameters (names are kept) and token-shaped
  path segments (UUIDs, numbers, slugs and hex ids are kept);
* optionally (``pii=True``) e-mail addresses, phone numbers and IP addresses;
* whatever the user adds (``extra_keys``, ``extra_patterns``), minus ``allow_keys``.

Everything is covered: span names, attributes, status descriptions, event names and
attributes (``exception.message``, ``exception.stacktrace``), link attributes and resource
attributes; :meth:`Redactor.redact_log` does the same for log bodies and attributes.

Deliberate limits (precision over paranoia, so traces stay useful): a random-looking string
with no context (no known prefix, no secret key name, no ``key=`` / ``token:`` before it) is
kept, as are lower-case hex path segments (git SHAs, content hashes) and strings shorter than
six characters under ordinary keys; a password in prose ("my password is hunter2") is not
recognised. Use ``extra_keys`` / ``extra_patterns`` for your own formats.

Cost: strings are scanned whole, however long, in linear time (no regular expression can
backtrack; see ``_detectors``). Values seen before cost a few set lookups per span, a new
short string about a microsecond, and only spans that need redaction are copied.

Wiring (botanu's pipeline does this for you)::

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from botanu.redaction import RedactingSpanProcessor, Redactor

    provider.add_span_processor(
        RedactingSpanProcessor(BatchSpanProcessor(exporter), Redactor.from_settings(settings))
    )

Direct use:

>>> from botanu.redaction import Redactor
>>> Redactor().redact_text("retry with token=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXY")
'retry with token=ghp_[REDACTED]'
>>> Redactor(mode="remove").redact_url("https://bob:pw@api.example.com/v1/orders/42?api_key=abc123&page=2")
'https://[REDACTED]@api.example.com/v1/orders/42?api_key=[REDACTED]&page=2'
>>> Redactor(mode="hash", hash_key="k").redact_value("userPassword", "hunter2")
'[HMAC:...]'
>>> Redactor().redact_value("gen_ai.usage.input_tokens", 1234)
1234

:func:`redaction_stats` shows what redaction did in this process.
"""

from botanu.redaction._processor import RedactingSpanProcessor
from botanu.redaction._redactor import MODES, Redactor, without_secrets
from botanu.redaction._stats import redaction_stats, reset_redaction_stats

__all__ = [
    "MODES",
    "RedactingSpanProcessor",
    "Redactor",
    "redaction_stats",
    "reset_redaction_stats",
    "without_secrets",
]
