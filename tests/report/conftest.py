"""Fixtures for report tests: real results from real artifacts, and a real headless Chromium.

Chromium comes from Debian's packages. When it is missing and the tests run as root, it is installed with
``apt-get install -y chromium`` (CI runs that command in its setup script); otherwise the browser tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


@dataclass(frozen=True)
class Page:
    dom: str
    log: str
    screenshot: Path


class Browser:
    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe, self.tmp = exe, tmp

    def _run(self, extra: list[str], url: str) -> subprocess.CompletedProcess[str]:
        profile = self.tmp / f"profile-{os.getpid()}-{len(list(self.tmp.iterdir()))}"
        cmd = [self.exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def load(self, html: Path, shot: Path, *, height: int = 2400) -> Page:
        url = html.resolve().as_uri()
        dom = self._run(["--dump-dom", "--virtual-time-budget=3000"], url)
        pic = self._run([f"--window-size=1200,{height}", f"--screenshot={shot}"], url)
        assert shot.exists() and shot.stat().st_size > 10_000, pic.stderr[-2000:]
        return Page(dom.stdout, dom.stderr + pic.stderr, shot)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, timeout=900, check=False)
        exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return Browser(exe, tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="session")
def zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The two fast-zoo entries the derived-case report needs (built once, cached under $TAOKE_DATA/zoo)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("smollm2-f32", "smollm2-noise-0.1"))
