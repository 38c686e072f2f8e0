"""(being written)"""

from __future__ import annotations

from web.ui.page import Page

ROUTES: list[tuple[str, type[Page]]] = []
