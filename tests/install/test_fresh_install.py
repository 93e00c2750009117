"""`pip install botanu` in a fresh venv with the pip that ships with Python, as users run it.

Each test builds botanu's wheel from this checkout, creates a venv with ``python -m venv``
(no pip upgrade: the bundled pip, 23.2.1 on Python 3.11), installs the wheel by name from a
``--find-links`` folder, so the rest resolves from the package registry exactly as
``pip install botanu`` would, then runs ``pip check`` and a program that exports a span to
the loopback receiver. The installs are slow (tens of seconds with a warm pip cache), so
the module is one wheel build and two venvs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900

EXPORT_A_SPAN = textwrap.dedent(
    """
    import sys
    import botanu

    botanu.init(endpoint=sys.argv[1], service_name="fresh-install", instrumentations=False)
    with botanu.event(event_id="ord-1", customer_id="cus-1", workflow="FreshInstall"):
        with botanu.step("pay"):
            pass
    sys.exit(0 if botanu.shutdown(10) else 3)
    """
)


def _base_python() -> str:
    """The interpreter this venv was made from, so the new venv gets its bundled pip."""
    return getattr(sys, "_base_executable", "") or sys.executable


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    # The machine's pip settings (index, certificates) stay: they are what its users' pip sees.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTANU_", "OTEL_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT, **kwargs)


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)])
    assert built.returncode == 0, built.stderr
    assert len(list(out.glob("botanu-*.whl"))) == 1
    return out


def _fresh_venv(path: Path) -> Path:
    made = _run([_base_python(), "-m", "venv", str(path)])
    assert made.returncode == 0, made.stderr
    return path / "bin" / "python"


def _bundled_pip_version(python: Path) -> str:
    shown = _run([str(python), "-m", "pip", "--version"])
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.split()[1]


def _ensurepip_version() -> str:
    import ensurepip

    return ensurepip.version()


@pytest.mark.timeout(INSTALL_TIMEOUT * 2)
@pytest.mark.parametrize("requirement", ["botanu", "botanu[all]"])
def test_installs_with_the_bundled_pip_and_exports_a_span(
    requirement: str, wheel_dir: Path, tmp_path: Path, otlp_receiver: OTLPReceiver
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    # The venv's pip is the one Python ships, not an upgraded one.
    assert _bundled_pip_version(python) == _ensurepip_version()

    installed = _run(
        [str(python), "-m", "pip", "install", "--quiet", "--find-links", str(wheel_dir), requirement]
    )
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]

    checked = _run([str(python), "-m", "pip", "check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr

    script = tmp_path / "export_a_span.py"
    script.write_text(EXPORT_A_SPAN)
    ran = _run([str(python), str(script), otlp_receiver.endpoint], cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    names = sorted(span.name for span in otlp_receiver.spans())
    assert names == ["botanu.run/FreshInstall", "botanu.step/pay"]
    run = otlp_receiver.span("botanu.run/FreshInstall")
    assert run.resource["service.name"] == "fresh-install"
    assert run.attributes["botanu.event_id"] == "ord-1"

    if requirement == "botanu[all]":
        # Every stack's instrumentation is there, and the installed set is one consistent release.
        listed = _run([str(python), "-m", "pip", "list", "--format=freeze"])
        versions = dict(line.split("==", 1) for line in listed.stdout.split() if "==" in line)
        for extra in ("urllib3", "urllib", "aiohttp-client", "flask", "fastapi", "django", "celery"):
            assert f"opentelemetry-instrumentation-{extra}" in versions, extra
        assert "PyYAML" in versions
        family = {name: v for name, v in versions.items() if name.startswith("opentelemetry-instrumentation")}
        assert len(set(family.values())) == 1, family
