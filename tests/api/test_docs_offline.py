"""Issue 12, finding 7: ``/docs`` and ``/redoc`` work air-gapped.

Every page and every asset it references is fetched from the app itself; nothing points to
another host (the stock FastAPI pages load Swagger UI and Redoc from a CDN and show a blank page
offline).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

#: ``src="..."``/``href="..."`` attributes, JS string URLs and CSS ``url(...)`` of a docs page
_REFS = re.compile(
    r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']"""
    r"""|\burl\s*[:(]\s*["']?([^"')\s,]+)"""
    r"""|["'](https?://[^"']+)["']"""
)


#: what a stylesheet loads: ``url(...)`` and ``@import`` (inline ``data:`` URIs load nothing)
_CSS_LOADS = re.compile(r"""url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+)""")


def _refs(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _REFS.finditer(text)]


def _css_loads(text: str) -> list[str]:
    found = [next(g for g in m.groups() if g) for m in _CSS_LOADS.finditer(text)]
    return [u for u in found if not u.startswith("data:")]


def _external(ref: str) -> bool:
    parts = urlsplit(ref)
    return bool(parts.netloc) and parts.hostname not in ("testserver",)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_and_its_assets_are_served_by_the_app(client: TestClient, page: str) -> None:
    resp = client.get(page)
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    refs = _refs(resp.text)
    assert refs, f"{page} references no script or stylesheet"
    external = [r for r in refs if _external(r)]
    assert not external, f"{page} points to other hosts: {external}"
    scripts = [r for r in refs if r.endswith(".js")]
    assert scripts, f"{page} loads no script"
    for ref in refs:
        url = urljoin(f"http://testserver{page}", ref)
        asset = client.get(url)
        assert asset.status_code == 200, (ref, asset.status_code)
        assert asset.content, ref
        if ref.endswith(".css"):
            imported = [u for u in _css_loads(asset.text) if _external(u)]
            assert not imported, f"{ref} imports from other hosts: {imported}"
        if ref.endswith("openapi.json"):
            assert asset.json()["info"]["title"] == "Headroom"


def test_swagger_ui_fetches_no_external_validator(client: TestClient) -> None:
    """Swagger UI's default spec validator is a badge loaded from a public server."""
    html = client.get("/docs").text
    assert '"validatorUrl": null' in html
