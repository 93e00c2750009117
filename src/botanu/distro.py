"""Zero-code set-up: botanu's distro and configurator for ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` finds these through the
``opentelemetry_distro`` and ``opentelemetry_configurator`` entry points (both
named ``botanu``). The configurator builds exactly the pipeline ``botanu.init()``
builds — run stamping, redaction, batching, OTLP/HTTP with gzip — by calling the
same code. When the stock ``opentelemetry-distro`` is installed as well, choose
botanu explicitly with ``OTEL_PYTHON_DISTRO=botanu OTEL_PYTHON_CONFIGURATOR=botanu``
(``botanu run -- python app.py`` sets both for you).
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

# Defaults botanu's distro sets for opentelemetry-instrument; the user's own values win.
DISTRO_DEFAULTS = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_PROPAGATORS": "tracecontext,baggage",
}


class BotanuDistro(BaseDistro):
    """Sets sensible ``OTEL_*`` defaults before instrumentations load."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DISTRO_DEFAULTS.items():
            os.environ.setdefault(name, value)


class BotanuConfigurator(_BaseConfigurator):
    """Installs botanu's pipeline on the global TracerProvider (same code as ``botanu.init()``)."""

    def _configure(self, **kwargs: Any) -> None:
        from botanu import _pipeline

        # opentelemetry-instrument loads the instrumentors itself, right after this.
        _pipeline.init(_instrument=False, _origin="opentelemetry-instrument")
