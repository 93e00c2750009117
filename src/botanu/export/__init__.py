"""Export building blocks: the OTLP/HTTP exporter, the delivery processor, the console tree.

Users who assemble their own pipeline can combine them with
:class:`botanu.redaction.RedactingSpanProcessor`::

    from botanu.export import DeliveryProcessor, OTLPHttpSpanExporter
    from botanu.redaction import RedactingSpanProcessor

    provider.add_span_processor(
        RedactingSpanProcessor(DeliveryProcessor(OTLPHttpSpanExporter("http://collector:4318/v1/traces")))
    )
"""

from botanu.export._console import ConsoleTreeProcessor, render_tree
from botanu.export._delivery import DeliveryProcessor
from botanu.export._otlp_http import Delivery, OTLPHttpSpanExporter

__all__ = ["ConsoleTreeProcessor", "Delivery", "DeliveryProcessor", "OTLPHttpSpanExporter", "render_tree"]
