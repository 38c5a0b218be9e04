"""The website widget's files (#23 W2): the script a company puts on its site, and a demo shop page that embeds it.

    /widget.js            the widget (api/static/widget.js): one self-contained file, cacheable for a short time
    /widget.js?v=<hash>   the same file pinned to its content: cached for a year (immutable); the hash is
                          :attr:`WidgetScript.version`, printed by the demo page's script tag
    /demo, /demo?lang=fr  a fictional shop page embedding the widget with one script tag

The script is served with a strong ``ETag`` (its hash: ``If-None-Match`` gives a 304) and gzip-compressed when the
browser accepts it. The file is read again when it changes on disk (a deployment), never per request otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

from tier0.vocab import Language

STATIC = Path(__file__).resolve().parent / "static"
SCRIPT = STATIC / "widget.js"
DEMO = STATIC / "demo.html"
PINNED_CACHE = "public, max-age=31536000, immutable"  # /widget.js?v=<its hash>: the content never changes
LATEST_CACHE = "public, max-age=300"  # /widget.js: a new version reaches every site within five minutes
JS_TYPE = "application/javascript; charset=utf-8"

# The demo shop's texts (a fictional shop: nothing here is real), in both languages.
DEMO_TEXTS: Dict[str, Dict[str, str]] = {
    Language.EN: {
        "title": "Maison Lumen — lamps and lights",
        "tagline": "Lamps and lights made in small workshops, delivered across Europe.",
        "nav_shop": "Shop", "nav_delivery": "Delivery", "nav_returns": "Returns", "other": "Français",
        "h_new": "New this season",
        "p1": "Atelier desk lamp, brass — 129 €", "p2": "Opaline pendant light — 189 €",
        "p3": "Linen shade, sand — 49 €",
        "help": "A question about an order, a delivery or a return? Our assistant answers straight away, and our team "
                "takes over when it cannot: use the chat button at the bottom of the page.",
        "footer": "Demo page of tier0: a fictional shop embedding the support widget with one script tag.",
    },
    Language.FR: {
        "title": "Maison Lumen — lampes et luminaires",
        "tagline": "Des lampes fabriquées dans de petits ateliers, livrées dans toute l'Europe.",
        "nav_shop": "Boutique", "nav_delivery": "Livraison", "nav_returns": "Retours", "other": "English",
        "h_new": "Nouveautés de la saison",
        "p1": "Lampe de bureau Atelier, laiton — 129 €", "p2": "Suspension opaline — 189 €",
        "p3": "Abat-jour en lin, sable — 49 €",
        "help": "Une question sur une commande, une livraison ou un retour ? Notre assistant vous répond tout de "
                "suite, et notre équipe prend le relais quand il ne sait pas : utilisez le bouton de discussion "
                "en bas de la page.",
        "footer": "Page de démonstration de tier0 : une boutique fictive qui intègre le widget d'assistance en une "
                  "balise script.",
    },
}


class WidgetScript:
    """widget.js as served: its bytes, gzip-compressed bytes and content hash, read again when the file changes."""

    def __init__(self, path: Path = SCRIPT):
        self.path = path
        self._lock = threading.Lock()
        self._mtime: Optional[int] = None
        self._data: Tuple[bytes, bytes, str] = (b"", b"", "")

    def _load(self) -> Tuple[bytes, bytes, str]:
        mtime = self.path.stat().st_mtime_ns
        with self._lock:
            if mtime != self._mtime:
                raw = self.path.read_bytes()
                self._data = (raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16])
                self._mtime = mtime
            return self._data

    @property
    def version(self) -> str:
        return self._load()[2]

    def response(self, v: Optional[str], if_none_match: Optional[str], accept_encoding: str
                 ) -> Tuple[int, bytes, Dict[str, str]]:
        """Status, body and headers for ``GET /widget.js?v=`` with the request's ``If-None-Match`` and
        ``Accept-Encoding``. A ``v`` that is not the current version (an old pinned tag) gets the current file with
        the short cache, so that it is fetched again soon."""
        raw, packed, version = self._load()
        etag = f'"{version}"'
        headers = {"ETag": etag, "Cache-Control": PINNED_CACHE if v == version else LATEST_CACHE,
                   "Vary": "Accept-Encoding", "Cross-Origin-Resource-Policy": "cross-origin"}
        if if_none_match and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
            return 304, b"", headers
        headers["Content-Type"] = JS_TYPE
        if "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return 200, packed, headers
        return 200, raw, headers


def demo_page(lang: str, version: str) -> str:
    """The demo shop page in ``lang`` (en, fr), its script tag pinned to the widget's ``version``."""
    texts = DEMO_TEXTS[Language(lang)]
    page = DEMO.read_text(encoding="utf-8")
    values = {**texts, "lang": lang, "other_lang": "en" if lang == Language.FR else "fr", "version": version}
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", html.escape(value))
    return page
