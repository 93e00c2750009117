"""Settings: the one place where botanu's configuration is resolved.

Precedence is the same for every setting: explicit argument > ``BOTANU_*``
environment variable > standard ``OTEL_*`` environment variable > default.
A value that does not parse is reported in one line that names the setting and
where the value came from; the default is used instead (strict mode raises).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botanu._safety import BotanuUsageError, strict_mode

logger = logging.getLogger("botanu")

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
REDACTION_MODES = ("mask", "remove", "hash")
COMPRESSIONS = ("gzip", "none")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingError(ValueError):
    """A setting's value could not be used."""


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one botanu pipeline.

    Build it with :func:`resolve_settings`; every field has already been parsed
    and validated. ``sources`` says where each value came from (``argument``, the
    name of an environment variable, or ``default``).
    """

    service_name: str = "unknown_service:python"
    service_version: str | None = None
    environment: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    headers: Mapping[str, str] = field(default_factory=dict)
    api_key: str | None = None
    console: bool = False
    content_capture_rate: float = 0.0
    compression: str = "gzip"
    export_timeout: float = 10.0
    # Seconds one batch is retried before it is spooled (None: the retry policy's, 15 s).
    export_retry_window: float | None = None
    shutdown_timeout: float = 5.0
    instrumentations: tuple[str, ...] | None = None
    disabled_instrumentations: tuple[str, ...] = ()
    strict: bool = False
    # Redaction (see botanu.redaction).
    redaction: bool = True
    redaction_mode: str = "mask"
    redact_keys: tuple[str, ...] = ()
    redact_patterns: tuple[str, ...] = ()
    redact_allow_keys: tuple[str, ...] = ()
    redact_pii: bool = False
    redaction_hash_key: str | None = None
    redaction_callback: Callable[..., Any] | None = None
    # Baggage trust boundaries (see botanu.propagation).
    propagate_to: tuple[str, ...] = ()
    trust_inbound_baggage: bool = False
    # Response headers that give the caller the request's trace id (see botanu.integrations);
    # () turns them off.
    trace_response_headers: tuple[str, ...] = ("traceresponse", "X-Trace-ID")
    # Durable spool for batches the collector could not take (see botanu.export).
    spool: bool = True
    spool_dir: str | None = None
    spool_max_bytes: int = 64 * 1024 * 1024
    spool_max_age: float = 24 * 3600.0
    # LLM prices that win over genai-prices' table: a JSON/YAML file path, or a mapping in code
    # (see botanu.llm). Read when the pipeline is built.
    llm_prices: str | Mapping[str, Any] | None = None
    # LLM clients: ask openai streams for their usage (stream_options.include_usage); the
    # extra usage-only chunk is hidden from the application.
    llm_stream_usage: bool = False
    # Logs: stdlib logging records (and botanu.Logger's) exported as OTel log records.
    logs: bool = True
    log_level: int = logging.INFO
    # None: derived from the traces endpoint (see logs_url()).
    logs_endpoint: str | None = None
    # Run the exit flush on SIGTERM / SIGHUP when the app leaves them at their default action.
    handle_signals: bool = True
    # Largest export request body (as sent); larger batches are split.
    max_request_bytes: int = 8 * 1024 * 1024
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def logs_url(self) -> str:
        """Where log records go: ``logs_endpoint``, else the traces endpoint with ``/v1/logs``."""
        if self.logs_endpoint:
            return self.logs_endpoint
        base = self.endpoint
        if base.endswith(TRACES_PATH):
            base = base[: -len(TRACES_PATH)]
        return base.rstrip("/") + LOGS_PATH

    def describe(self) -> dict[str, str]:
        """Return the settings as printable strings, secrets masked."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                shown = "***"
            elif f.name == "headers":
                shown = ", ".join(f"{k}=***" for k in value) or "(none)"
            else:
                shown = repr(value)
            out[f.name] = f"{shown}  [{self.sources.get(f.name, 'default')}]"
        return out


_SECRET_FIELDS = {"api_key", "redaction_hash_key"}


# --------------------------------------------------------------------------- parsers


def _parse_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise SettingError("expected a string")
    value = raw.strip()
    if not value:
        raise SettingError("must not be empty")
    return value


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise SettingError("expected true/false (1/0, yes/no, on/off)")


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise SettingError("expected a number")
    try:
        value = float(raw)
    except Exception:  # TypeError, ValueError, OverflowError, or the user's own __float__ raising
        raise SettingError("expected a number") from None
    if not math.isfinite(value):
        raise SettingError("expected a finite number")
    return value


def _parse_rate(raw: Any) -> float:
    value = _number(raw)
    if not 0.0 <= value <= 1.0:
        raise SettingError("expected a number between 0 and 1")
    return value


def _parse_log_level(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw >= 0:
            return raw
        raise SettingError("a level number must not be negative")
    if isinstance(raw, str):
        text = raw.strip().upper()
        if text.isdigit():
            return int(text)
        level = {"WARN": logging.WARNING, "FATAL": logging.CRITICAL}.get(text, logging.getLevelName(text))
        if isinstance(level, int):
            return level
    raise SettingError("expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) or number")


def _logs_exporter_enabled(raw: Any) -> bool:
    """``OTEL_LOGS_EXPORTER``: ``none`` turns log export off; any exporter name leaves it on."""
    return _parse_str(raw).lower() != "none"


def _parse_seconds(raw: Any) -> float:
    value = _number(raw)
    if not 0.0 < value <= 3600.0:
        raise SettingError("expected seconds between 0 and 3600")
    return value


def _parse_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, (list, tuple, set, frozenset)):
        items = list(raw)
    else:
        raise SettingError("expected a comma-separated string or a list of strings")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise SettingError("expected strings in the list")
        if item.strip():
            out.append(item.strip())
    return tuple(out)


_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _parse_header_names(raw: Any) -> tuple[str, ...]:
    """HTTP header names; empty (or ``none``/``off``/``0``/``false``) means no header at all."""
    if isinstance(raw, str) and raw.strip().lower() in _FALSE | {"none"}:
        return ()
    names = _parse_list(raw)
    bad = [name for name in names if not _HEADER_NAME_RE.fullmatch(name)]
    if bad:
        raise SettingError("expected HTTP header names (letters, digits, '-'; no spaces or ':')")
    return tuple(dict.fromkeys(names))


def _parse_instrumentations(raw: Any) -> tuple[str, ...] | None:
    if isinstance(raw, bool) or (isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE - {""}):
        return None if _parse_bool(raw) else ()
    return _parse_list(raw)


def _parse_choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = _parse_str(raw).lower()
        if value not in choices:
            raise SettingError("expected one of " + ", ".join(choices))
        return value

    return parse


def _parse_compression(raw: Any) -> str:
    value = _parse_str(raw).lower()
    if value in ("", "none", "identity"):
        return "none"
    if value != "gzip":
        raise SettingError("expected gzip or none")
    return value


def _header_value(value: str) -> str:
    """A value an HTTP header can carry: Latin-1 text without control characters (no CR/LF injection)."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise SettingError("header values and the API key must be Latin-1 text") from None
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):  # tab is allowed
        raise SettingError("header values and the API key must not contain control characters")
    return value


def _parse_api_key(raw: Any) -> str:
    return _header_value(_parse_str(raw))


def _parse_headers(raw: Any) -> dict[str, str]:
    """Headers as a mapping or in the OTEL ``k1=v1,k2=v2`` (URL-encoded) form."""
    if isinstance(raw, Mapping):
        try:
            items = list(raw.items())
        except Exception:  # a user mapping that cannot be read
            raise SettingError("the mapping could not be read") from None
    elif isinstance(raw, str):
        items = []
        for part in raw.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise SettingError("expected key=value pairs separated by commas")
            key, _, value = part.partition("=")
            items.append((urllib.parse.unquote(key.strip()), urllib.parse.unquote(value.strip())))
    else:
        raise SettingError("expected a mapping or 'key=value,key2=value2'")
    out: dict[str, str] = {}
    for key, value in items:
        if not isinstance(key, str) or not isinstance(value, str) or not re.fullmatch(r"[!-9;-~]+", key):
            raise SettingError("header names and values must be strings (names without spaces or ':')")
        out[key.lower()] = _header_value(value)
    return out


def _parse_url(raw: Any) -> str:
    value = _parse_str(raw)
    try:
        parsed = urllib.parse.urlsplit(value)
        hostname = parsed.hostname
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:  # a malformed host ("[::1") or port
        raise SettingError("not a valid URL (check the host and port)") from None
    if parsed.scheme not in ("http", "https") or not hostname:
        raise SettingError("expected an http:// or https:// URL with a host")
    return value


def _parse_request_bytes(raw: Any) -> int:
    value = _parse_bytes(raw)
    if value < 1024:
        raise SettingError("expected at least 1KB (a smaller limit would refuse every request)")
    return value


def _parse_bytes(raw: Any) -> int:
    """A size in bytes, optionally with a KB/MB/GB suffix (powers of 1024)."""
    if isinstance(raw, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?)?\s*", raw.lower())
        if not match:
            raise SettingError("expected a size such as 50000000, 64MB or 1GB")
        factor = {"k": 1024, "m": 1024**2, "g": 1024**3}.get((match.group(2) or " ")[0], 1)
        value = _number(match.group(1)) * factor
    else:
        value = _number(raw)
    if not 0 <= value <= 2**50:
        raise SettingError("expected a size between 0 and 1 PiB")
    return int(value)


def _parse_age(raw: Any) -> float:
    value = _number(raw)
    if value <= 0:
        raise SettingError("expected a positive number of seconds")
    return value


def _parse_llm_prices(raw: Any) -> str | Mapping[str, Any]:
    """A price file's path, or the prices themselves as a mapping (checked by botanu.llm)."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    raise SettingError("expected a path to a JSON or YAML price file, or a mapping")


def _parse_callable(raw: Any) -> Callable[..., Any]:
    if not callable(raw):
        raise SettingError("expected a callable")
    return raw


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class _Spec:
    parse: Callable[[Any], Any]
    botanu_env: str | None
    otel_envs: tuple[tuple[str, Callable[[Any], Any] | None], ...] = ()
    secret: bool = False
    # An empty environment variable is a value (it turns the feature off), not "unset".
    empty_is_value: bool = False


def _otel(*names: str) -> tuple[tuple[str, None], ...]:
    return tuple((name, None) for name in names)


_SPECS: dict[str, _Spec] = {
    "service_name": _Spec(_parse_str, "BOTANU_SERVICE_NAME", _otel("OTEL_SERVICE_NAME")),
    "service_version": _Spec(_parse_str, "BOTANU_SERVICE_VERSION"),
    "environment": _Spec(_parse_str, "BOTANU_ENVIRONMENT", _otel("OTEL_DEPLOYMENT_ENVIRONMENT")),
    "endpoint": _Spec(
        _parse_url,
        "BOTANU_ENDPOINT",
        (
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", lambda raw: _parse_url(raw).rstrip("/") + TRACES_PATH),
        ),
    ),
    "headers": _Spec(
        _parse_headers,
        "BOTANU_HEADERS",
        _otel("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
        secret=True,
    ),
    "api_key": _Spec(_parse_api_key, "BOTANU_API_KEY", secret=True),
    "console": _Spec(_parse_bool, "BOTANU_CONSOLE"),
    "content_capture_rate": _Spec(_parse_rate, "BOTANU_CONTENT_CAPTURE_RATE"),
    "compression": _Spec(
        _parse_compression,
        "BOTANU_COMPRESSION",
        _otel("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
    ),
    "export_timeout": _Spec(
        _parse_seconds,
        "BOTANU_EXPORT_TIMEOUT",
        # Seconds, as the Python SDK's exporters read them (the specification says milliseconds,
        # but a Python user's "10" means ten seconds, and ten milliseconds would fail every export).
        _otel("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ),
    "export_retry_window": _Spec(_parse_seconds, "BOTANU_EXPORT_RETRY_WINDOW"),
    "shutdown_timeout": _Spec(_parse_seconds, "BOTANU_SHUTDOWN_TIMEOUT"),
    "instrumentations": _Spec(_parse_instrumentations, "BOTANU_INSTRUMENTATIONS"),
    # OTEL_PYTHON_DISABLED_INSTRUMENTATIONS is added to this list, not a fallback (see resolve_settings).
    "disabled_instrumentations": _Spec(_parse_list, "BOTANU_DISABLED_INSTRUMENTATIONS"),
    "strict": _Spec(_parse_bool, "BOTANU_STRICT"),
    "redaction": _Spec(_parse_bool, "BOTANU_REDACTION"),
    "redaction_mode": _Spec(_parse_choice(REDACTION_MODES), "BOTANU_REDACTION_MODE"),
    "redact_keys": _Spec(_parse_list, "BOTANU_REDACT_KEYS"),
    "redact_patterns": _Spec(_parse_list, "BOTANU_REDACT_PATTERNS"),
    "redact_allow_keys": _Spec(_parse_list, "BOTANU_REDACT_ALLOW_KEYS"),
    "redact_pii": _Spec(_parse_bool, "BOTANU_REDACT_PII"),
    "redaction_hash_key": _Spec(_parse_str, "BOTANU_REDACTION_HASH_KEY", secret=True),
    "redaction_callback": _Spec(_parse_callable, None),
    "propagate_to": _Spec(_parse_list, "BOTANU_PROPAGATE_TO"),
    "trust_inbound_baggage": _Spec(_parse_bool, "BOTANU_TRUST_INBOUND_BAGGAGE"),
    "trace_response_headers": _Spec(
        _parse_header_names, "BOTANU_TRACE_RESPONSE_HEADERS", empty_is_value=True
    ),
    "spool": _Spec(_parse_bool, "BOTANU_SPOOL"),
    "spool_dir": _Spec(_parse_str, "BOTANU_SPOOL_DIR"),
    "spool_max_bytes": _Spec(_parse_bytes, "BOTANU_SPOOL_MAX_BYTES"),
    "spool_max_age": _Spec(_parse_age, "BOTANU_SPOOL_MAX_AGE"),
    "llm_prices": _Spec(_parse_llm_prices, "BOTANU_LLM_PRICES"),
    "llm_stream_usage": _Spec(_parse_bool, "BOTANU_LLM_STREAM_USAGE"),
    "logs": _Spec(_parse_bool, "BOTANU_LOGS", (("OTEL_LOGS_EXPORTER", _logs_exporter_enabled),)),
    "log_level": _Spec(_parse_log_level, "BOTANU_LOG_LEVEL"),
    "handle_signals": _Spec(_parse_bool, "BOTANU_HANDLE_SIGNALS"),
    "max_request_bytes": _Spec(_parse_request_bytes, "BOTANU_MAX_REQUEST_BYTES"),
    "logs_endpoint": _Spec(
        _parse_url,
        "BOTANU_LOGS_ENDPOINT",
        (
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", None),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", lambda raw: _parse_url(raw).rstrip("/") + LOGS_PATH),
        ),
    ),
}

SETTING_NAMES = tuple(_SPECS)


def _shown(raw: Any, secret: bool) -> str:
    if secret:
        return "<hidden>"
    try:
        text = repr(raw)
    except Exception:  # the user's object cannot describe itself
        return f"<{type(raw).__name__} object>"
    # A URL that failed to parse may still carry user:password@: never log that part. Anything
    # else secret-shaped (an api_key in a query, a token) goes through botanu's own redaction.
    text = re.sub(r"(?<=//)[^/@\s'\"]*@", "***@", text)
    from botanu.redaction import without_secrets  # here: the redaction package reads Settings

    text = without_secrets(text)
    return text if len(text) <= 80 else text[:77] + "..."


def _report(name: str, source: str, raw: Any, secret: bool, problem: str, fallback: str) -> None:
    shown = _shown(raw, secret)
    message = f"botanu: invalid value for setting '{name}' from {source}: {shown} ({problem}); {fallback}"
    if strict_mode():
        raise BotanuUsageError(message)
    logger.error(message)


def _strip_userinfo(endpoint: str, source: str) -> str:
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.username is None and parsed.password is None:
        return endpoint
    host = parsed.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parsed.port}" if parsed.port else "")
    logger.warning(
        "botanu: the endpoint from %s contained credentials (user:password@); they were removed and are "
        "not sent. Use api_key / BOTANU_API_KEY or headers for authentication.",
        source,
    )
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


def resolve_settings(
    explicit: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting from explicit arguments, then the environment, then defaults.

    Unknown names in ``explicit`` are reported (strict mode raises) and ignored.
    """
    explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
    env = os.environ if environ is None else environ
    for unknown in sorted(set(explicit) - set(_SPECS)):
        message = f"botanu: unknown setting '{unknown}' ignored"
        if strict_mode():
            raise BotanuUsageError(message)
        logger.warning(message)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    defaults = Settings()
    for name, spec in _SPECS.items():
        candidates: list[tuple[str, Any, Callable[[Any], Any]]] = []
        if name in explicit:
            candidates.append(("argument", explicit[name], spec.parse))
        if spec.botanu_env and (
            env.get(spec.botanu_env, "").strip() or (spec.empty_is_value and spec.botanu_env in env)
        ):
            candidates.append((spec.botanu_env, env[spec.botanu_env], spec.parse))
        for env_name, parse in spec.otel_envs:
            if env.get(env_name, "").strip():
                candidates.append((env_name, env[env_name], parse or spec.parse))
        for index, (source, raw, parse) in enumerate(candidates):
            try:
                values[name] = parse(raw)
                sources[name] = source
                break
            except SettingError as error:
                rest = candidates[index + 1 :]
                fallback = (
                    f"using {rest[0][0]} instead"
                    if rest
                    else f"using the default ({_shown(getattr(defaults, name), spec.secret)})"
                )
                _report(name, source, raw, spec.secret, str(error), fallback)
        else:
            sources[name] = "default"

    if "endpoint" in values:
        values["endpoint"] = _strip_userinfo(values["endpoint"], sources["endpoint"])
    _add_otel_disabled_instrumentations(values, sources, env)
    if "service_name" not in values:
        values["service_name"] = _service_name_from_resource_env(env) or defaults.service_name
    return Settings(**values, sources=sources)


OTEL_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def _add_otel_disabled_instrumentations(
    values: dict[str, Any], sources: dict[str, str], env: Mapping[str, str]
) -> None:
    """Add ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` to botanu's own list.

    It is opentelemetry-instrument's switch and it always applies there, so botanu's
    list (argument or ``BOTANU_DISABLED_INSTRUMENTATIONS``) adds names rather than
    replacing it: every path then turns off the same instrumentations.
    """
    otel = _parse_list(env.get(OTEL_DISABLED_INSTRUMENTATIONS, ""))
    if not otel:
        return
    own = values.get("disabled_instrumentations", ())
    values["disabled_instrumentations"] = tuple(dict.fromkeys((*own, *otel)))
    source = sources.get("disabled_instrumentations", "default")
    sources["disabled_instrumentations"] = (
        OTEL_DISABLED_INSTRUMENTATIONS
        if source == "default"
        else f"{source} + {OTEL_DISABLED_INSTRUMENTATIONS}"
    )


def _service_name_from_resource_env(env: Mapping[str, str]) -> str | None:
    for part in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = part.partition("=")
        if key.strip() == "service.name" and value.strip():
            return urllib.parse.unquote(value.strip())
    return None


def differing_settings(current: Settings, explicit: Mapping[str, Any]) -> list[str]:
    """Names of explicit arguments whose value differs from the active settings."""
    out = []
    for name, raw in explicit.items():
        if raw is None or name not in _SPECS:
            continue
        try:
            value = _SPECS[name].parse(raw)
        except SettingError:
            out.append(name)
            continue
        if name == "endpoint":
            value = _strip_userinfo(value, "argument") if value != current.endpoint else value
        if name == "disabled_instrumentations":  # the active list also holds OTEL_PYTHON_DISABLED_...
            if not set(value) <= set(current.disabled_instrumentations):
                out.append(name)
            continue
        if value != getattr(current, name):
            out.append(name)
    return out
