"""Each integration imports without its framework and names the extra to install only when used.

The framework (or contrib instrumentation) is made unimportable in a fresh interpreter by a
meta-path finder that refuses it, as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.zero_code._support import clean_env

SCRIPT = textwrap.dedent(
    """
    import importlib, sys

    BLOCKED = set(sys.argv[1].split(","))

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NotInstalled())
    import botanu  # the package itself never needs a web framework
    module = importlib.import_module(sys.argv[2])  # inert: importing works
    use = {
        "asgi": lambda: module.BotanuMiddleware(lambda scope, receive, send: None),
        "fastapi": lambda: module.BotanuMiddleware(lambda scope, receive, send: None),
        "wsgi": lambda: module.BotanuMiddleware(lambda environ, start_response: []),
        "flask": lambda: module.init_botanu(object()),
        "django": lambda: module.BotanuMiddleware(lambda request: None),
    }[sys.argv[2].rsplit(".", 1)[-1]]
    try:
        use()
    except ImportError as error:
        print("IMPORT ERROR:", error)
    else:
        print("NO ERROR")
    """
)

CASES = [
    ("fastapi", "fastapi,starlette", "botanu[fastapi]"),
    ("asgi", "opentelemetry.instrumentation.asgi", "botanu[asgi]"),
    ("wsgi", "opentelemetry.instrumentation.wsgi", "botanu[wsgi]"),
    ("flask", "flask", "botanu[flask]"),
    ("django", "django", "botanu[django]"),
]


def run(module: str, blocked: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, blocked, f"botanu.integrations.{module}"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("module", "blocked", "extra"), CASES, ids=[case[0] for case in CASES])
def test_using_an_integration_without_its_framework_names_the_extra(
    module: str, blocked: str, extra: str
) -> None:
    out = run(module, blocked)
    assert "IMPORT ERROR:" in out, out
    assert f"pip install '{extra}'" in out, out


def test_with_the_framework_installed_nothing_is_raised() -> None:
    # The same script with nothing blocked: the check above fails for the right reason.
    assert "NO ERROR" in run("fastapi", "no-such-module")
