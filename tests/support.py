"""Helpers shared by the browser test, the AppTest fixtures and the dashboard benchmark (`tests/bench_app.py`)."""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Callable

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$CHROMIUM``); browser downloads do not work here."""
    for p in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if p and Path(p).exists():
            return p
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steady_state_init(original: Callable) -> Callable:
    """A ``PagesManager.__init__`` that leaves Streamlit's v1 ``pages/`` mode, so AppTest runs as a
    long-running server does (AppTest resets the mode before every run; the one rerun that leaves it would
    drop a clicked button's trigger)."""
    from streamlit.runtime.pages_manager import PagesManager

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    return init
