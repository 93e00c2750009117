"""Export building blocks: OTLP/HTTP exporter, delivery processor, durable spool, console tree.

``botanu.init()`` assembles them with :func:`build_delivery`. Users who
assemble their own pipeline can combine them with
:class:`botanu.redaction.RedactingSpanProcessor`::

    from botanu.export import DeliveryProcessor, OTLPHttpSpanExporter, Replayer, Spool
    from botanu.redaction import RedactingSpanProcessor

    spool = Spool("/var/cache/myapp/spool")
    exporter = OTLPHttpSpanExporter("http://collector:4318/v1/traces", spool=spool)
    replayer = Replayer(spool, exporter)
    exporter.after_delivery = replayer.kick
    provider.add_span_processor(RedactingSpanProcessor(DeliveryProcessor(exporter, replayer=replayer)))

See ``docs/delivery.md`` for the guarantees and the accounting.
"""

from botanu.export._console import ConsoleTreeProcessor, render_tree
from botanu.export._delivery import DeliveryProcessor
from botanu.export._factory import build_delivery, build_exporter, spool_directory
from botanu.export._otlp_http import Delivery, OTLPHttpSpanExporter
from botanu.export._outcome import Outcome
from botanu.export._replay import Replayer
from botanu.export._retry import RetryPolicy
from botanu.export._spool import Spool, default_spool_root

__all__ = [
    "ConsoleTreeProcessor",
    "Delivery",
    "DeliveryProcessor",
    "OTLPHttpSpanExporter",
    "Outcome",
    "Replayer",
    "RetryPolicy",
    "Spool",
    "build_delivery",
    "build_exporter",
    "default_spool_root",
    "render_tree",
    "spool_directory",
]
