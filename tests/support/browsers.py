"""Pages of a served Airflow in the session's browser (Debian's chromium, driven by Playwright).

``STAGEBOOK_SCREENSHOTS=<folder>`` keeps the pages' screenshots there (the
README's come from ``docs/``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.support.servers import Served


def page(browser: Any, server: Served, user: str = "viewer", bypass_csp: bool = False) -> Any:
    """Return a new page logged in as ``user`` (the api-server's own token in its cookie)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=bypass_csp)
    context.add_cookies([{"name": "_token", "value": server.token(user), "url": server.base}])
    return context.new_page()


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    """Screenshot the page to ``tmp_path/name``, and into ``$STAGEBOOK_SCREENSHOTS`` if set."""
    page.screenshot(path=tmp_path / name, full_page=False)
    keep = os.environ.get("STAGEBOOK_SCREENSHOTS")
    if keep:
        shutil.copy(tmp_path / name, Path(keep) / name)
    return tmp_path / name
