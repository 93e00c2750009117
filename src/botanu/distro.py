"""Zero-code set-up: botanu's distro and configurator for ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` finds these through the
``opentelemetry_distro`` and ``opentelemetry_configurator`` entry points (both
named ``botanu``). The configurator builds exactly the pipeline ``botanu.init()``
builds — run stamping, redaction, batching, OTLP/HTTP with gzip — by calling the
same code. The distro selects botanu's configurator unless ``OTEL_PYTHON_CONFIGURATOR``
names another, and loads instrumentors by the same rules as ``botanu.init()``
(``BOTANU_INSTRUMENTATIONS``, ``BOTANU_DISABLED_INSTRUMENTATIONS``). When the stock
``opentelemetry-distro`` is installed as well, choose botanu with
``OTEL_PYTHON_DISTRO=botanu`` (``botanu run -- python app.py`` does it for you).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

from botanu import _safety
from botanu._config import Settings, resolve_settings

logger = logging.getLogger("botanu")

# Defaults botanu's distro sets for opentelemetry-instrument; the user's own values win.
DISTRO_DEFAULTS = {
    # opentelemetry-instrument configures the distro before it loads a configurator, so
    # choosing botanu's distro is enough to get botanu's pipeline, also next to the stock
    # opentelemetry-distro (whose configurator would otherwise be found first).
    "OTEL_PYTHON_CONFIGURATOR": "botanu",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_PROPAGATORS": "tracecontext,baggage",
    # botanu's own handler exports logging records; the contrib logging instrumentation's
    # would send each record a second time, unredacted by botanu's rules.
    "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "false",
}
_OTLP_EXPORTERS = {"otlp", "otlp_proto_http"}
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


class BotanuDistro(BaseDistro):
    """Sets sensible ``OTEL_*`` defaults and loads the instrumentors botanu's settings allow."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DISTRO_DEFAULTS.items():
            if not os.environ.get(name, "").strip():  # an empty variable counts as unset, as in OTel
                os.environ[name] = value

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        """Called by opentelemetry-instrument for each installed instrumentor it has not disabled."""
        reason = _excluded(entry_point.name)
        if reason is not None:
            logger.debug("botanu: instrumentation %s %s", entry_point.name, reason)
            return
        # Errors from here on (a missing library, say) are opentelemetry-instrument's to handle.
        super().load_instrumentor(entry_point, **kwargs)


@functools.cache
def _instrumentation_settings() -> Settings:
    from botanu import _pipeline

    # botanu's configurator ran just before and resolved them; with another configurator, resolve once here.
    return _pipeline.active_settings() or resolve_settings()


@_safety.contain("choosing instrumentations", None)  # on failure, load it as opentelemetry-instrument would
def _excluded(name: str) -> str | None:
    from botanu import _instrumentation

    return _instrumentation.excluded(name, _instrumentation_settings(), _instrumentation.EVERY_INSTALLED)


class BotanuConfigurator(_BaseConfigurator):
    """Installs botanu's pipeline on the global TracerProvider (same code as ``botanu.init()``)."""

    def _configure(self, **kwargs: Any) -> None:
        from botanu import _pipeline

        _warn_if_other_distro(os.environ)
        arguments, export = exporter_choice(os.environ)
        # opentelemetry-instrument loads the instrumentors itself, right after this.
        _pipeline.init(
            _instrument=False,
            _origin="opentelemetry-instrument",
            _switched_off_by=None if export else "OTEL_TRACES_EXPORTER=none",
            **arguments,
        )


def _botanu_distro_in_use() -> bool:
    # opentelemetry-instrument creates exactly one distro, before the configurator runs.
    return BotanuDistro._instance is not None


def exporter_choice(env: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
    """What ``OTEL_TRACES_EXPORTER`` and the OTLP protocol variables mean for botanu's pipeline.

    Returns the ``init()`` arguments they imply and whether anything is exported.
    botanu exports OTLP/HTTP protobuf only: a value it cannot honour gets one warning.
    """
    names = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if "none" in names:
        logger.warning(
            "botanu: OTEL_TRACES_EXPORTER=none: no spans are recorded or exported (as with "
            "OTEL_SDK_DISABLED); trace context still passes through and botanu's baggage rules apply"
        )
        return {}, False
    arguments: dict[str, Any] = {}
    if "console" in names:
        if not env.get("BOTANU_CONSOLE", "").strip():  # BOTANU_* beats OTEL_*, as for every setting
            arguments["console"] = True
        if not _OTLP_EXPORTERS & set(names):
            logger.warning(
                "botanu: OTEL_TRACES_EXPORTER=console prints each trace on stderr, and botanu still "
                "exports OTLP/HTTP to its endpoint (OTEL_TRACES_EXPORTER=none exports nothing)"
            )
    ignored = [name for name in names if name not in _OTLP_EXPORTERS | {"console"}]
    if ignored:
        logger.warning(
            "botanu: OTEL_TRACES_EXPORTER value %s ignored: botanu exports OTLP/HTTP protobuf "
            "(use otlp, console or none)",
            ", ".join(ignored),
        )
    _check_protocol(env)
    return arguments, True


def _check_protocol(env: Mapping[str, str]) -> None:
    # The traces-specific variable wins over the general one, as in the SDK.
    variable = next((name for name in _PROTOCOL_VARIABLES if env.get(name, "").strip()), None)
    if variable is None:
        return
    protocol = env[variable].strip()
    if protocol.lower() == "http/protobuf":
        return
    hint = ""
    if protocol.lower() == "grpc" and not _botanu_distro_in_use():
        hint = " (the stock opentelemetry-distro sets grpc: choose botanu's with OTEL_PYTHON_DISTRO=botanu)"
    logger.warning(
        "botanu: %s=%s ignored: botanu exports OTLP/HTTP protobuf, which a collector takes on its HTTP "
        "port (usually 4318, not the gRPC port 4317)%s",
        variable,
        protocol,
        hint,
    )


def _warn_if_other_distro(env: Mapping[str, str]) -> None:
    """Say so when botanu's instrumentation settings cannot apply: another distro loads the instrumentors."""
    if _botanu_distro_in_use():
        return
    unused = [
        name for name in ("BOTANU_INSTRUMENTATIONS", "BOTANU_DISABLED_INSTRUMENTATIONS") if env.get(name)
    ]
    if unused:
        logger.warning(
            "botanu: %s not applied: opentelemetry-instrument is using another distro; select botanu's with "
            "OTEL_PYTHON_DISTRO=botanu (or use `botanu run`)",
            " and ".join(unused),
        )
