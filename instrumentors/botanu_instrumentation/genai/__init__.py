"""Shared pieces of botanu's gen_ai instrumentors (openai, anthropic).

* :mod:`._attributes` -- semconv names and readers;
* :mod:`._call` -- one span per API call, from the SDK's ``request`` method;
* :mod:`._stream` -- the one stream proxy both vendors use;
* :mod:`._content` -- whether the current run records prompts and completions;
* :func:`enrich_native_genai_span` -- what a vendor SDK's own gen_ai span lacks.
"""

from ._native import enrich_native_genai_span

__all__ = ["enrich_native_genai_span"]
