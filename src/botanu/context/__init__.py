"""Who a span is for: runs and steps, sessions, the run's baggage and the rules for sending it,
and the enricher that stamps a run's attributes on every span started inside it.

The public API (``botanu.event``, ``botanu.step``, ``botanu.session``, ...) is re-exported by
:mod:`botanu`; the modules here are private.
"""
