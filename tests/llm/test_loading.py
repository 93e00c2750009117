"""How the LLM instrumentors load: by botanu.init()'s defaults, and inert without their library."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ._fake_api import MODEL

openai = pytest.importorskip("openai")
ROOT = Path(__file__).resolve().parents[2]


def test_init_defaults_load_both_llm_instrumentors(api, pipeline) -> None:
    from botanu import _instrumentation
    from botanu._config import resolve_settings

    decisions = dict(_instrumentation.plan(resolve_settings({})))
    assert decisions["botanu_openai"] == _instrumentation.ON
    assert decisions["botanu_anthropic"] == _instrumentation.ON

    p = pipeline(instrumentations=None)  # None: botanu.init()'s own defaults
    assert hasattr(openai._base_client.SyncAPIClient.__dict__["request"], "__wrapped__")
    client = openai.OpenAI(api_key="sk-x", base_url=api.base_url, max_retries=0)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    (span,) = p.genai(1)
    assert span.scope == "botanu_instrumentation.openai"


def test_disabled_by_name(api, pipeline) -> None:
    pipeline(instrumentations=None, disabled_instrumentations=["botanu_openai"])
    assert not hasattr(openai._base_client.SyncAPIClient.__dict__["request"], "__wrapped__")


@pytest.mark.parametrize("library", ["openai", "anthropic"])
def test_inert_when_the_library_cannot_be_imported(library: str) -> None:
    # A fresh interpreter in which the client library cannot be imported.
    name = "OpenAIInstrumentor" if library == "openai" else "AnthropicInstrumentor"
    script = textwrap.dedent(
        f"""
        import sys, logging
        sys.path.insert(0, {str(ROOT / "instrumentors")!r})
        sys.modules[{library!r}] = None
        logging.basicConfig(level=logging.CRITICAL)
        from botanu_instrumentation.{library} import {name} as I
        instrumentor = I()
        assert instrumentor.instrumentation_dependencies()
        instrumentor.instrument(skip_dep_check=True)  # must neither raise nor patch anything
        instrumentor.uninstrument()
        print("inert")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "inert"
