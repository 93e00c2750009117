"""openai and anthropic traced with no code: a real app in a child process under each launcher."""

from __future__ import annotations

import textwrap

import pytest

from tests.zero_code._support import BIN, clean_env, run

pytest.importorskip("openai")
pytest.importorskip("anthropic")

KEY = "sk-zero-code-KEY-never-exported-5555"
APP = textwrap.dedent(
    """
    import sys
    import anthropic, openai
    import botanu

    port = int(sys.argv[1])
    if sys.argv[2:] == ["init"]:
        botanu.init(service_name="llm-app")
    hi = [{"role": "user", "content": "hi"}]
    gpt = openai.OpenAI(api_key="KEY", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    claude = anthropic.Anthropic(api_key="KEY", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with botanu.event(event_id="t-1", customer_id="cus-1", workflow="Llm"):
        gpt.chat.completions.create(model="gpt-test-1", messages=hi)
        for _chunk in gpt.chat.completions.create(model="gpt-test-1", messages=hi, stream=True):
            pass
        claude.messages.create(model="claude-test-1", max_tokens=8, messages=hi)
    print("app done")
    """
).replace("KEY", KEY)


@pytest.mark.parametrize("launcher", ["botanu run", "opentelemetry-instrument", "botanu.init()"])
def test_llm_calls_traced_with_no_code(launcher, tmp_path, otlp_receiver, api) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_LLM_STREAM_USAGE="1")
    python_app = [str(BIN / "python"), str(app), str(api.port)]
    if launcher == "botanu run":
        args = [str(BIN / "botanu"), "run", "--", *python_app]
    elif launcher == "opentelemetry-instrument":
        env["OTEL_PYTHON_DISTRO"] = "botanu"
        args = [str(BIN / "opentelemetry-instrument"), *python_app]
    else:
        args = [*python_app, "init"]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert otlp_receiver.wait_for(lambda r: any(s.name == "botanu.run/Llm" for s in r.spans()))
    spans = otlp_receiver.spans()
    run_span = next(s for s in spans if s.name == "botanu.run/Llm")
    genai = [s for s in spans if "gen_ai.operation.name" in s.attributes]
    assert sorted(s.scope for s in genai) == [
        "botanu_instrumentation.openai",
        "botanu_instrumentation.openai",
        "com.anthropic.sdk.python",
    ]
    for span in genai:
        assert span.parent_span_id == run_span.span_id
        assert span.attributes["gen_ai.usage.output_tokens"] > 0
        assert span.attributes["botanu.run_id"] == run_span.attributes["botanu.run_id"]
    assert KEY.encode() not in b"".join(otlp_receiver.raw_bodies())
