"""A real browser uploads to a presigned URL, as the Cellenics UI does.

Headless Chromium loads a page from another origin (`http://localhost:<port>`)
whose script PUTs a small body straight to an S3 presigned URL and reads the
`ETag` response header, as the UI does for each uploaded part. Only a browser
enforces CORS for real: the PUT needs a preflight the bucket's rule allows, and
the script sees the ETag only if the rule exposes it.

The same page cannot reach the stack's own endpoints (engine/guard.py): its
`text/plain` POST to `/moto-api/reset`, which needs no preflight, is refused,
and it cannot read `/moto-api/data.json`; the developer opening that URL can.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from inframock.testing.harness import RunningStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BODY = "uploaded by a browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER}: "
        "apt-get install chromium chromium-driver",
    ),
]

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>upload</title>
<pre id="result"></pre>
<script>
const uploads = %s;
Promise.all(Object.entries(uploads).map(([name, url]) =>
  fetch(url, {
    method: "PUT",
    body: %s,
    headers: {"Content-Type": "application/octet-stream"},
  })
    .then((r) => [name, {status: r.status, etag: r.headers.get("ETag")}])
    .catch((e) => [name, {error: String(e)}])
)).then((results) => {
  document.getElementById("result").textContent =
    JSON.stringify(Object.fromEntries(results));
});
</script>
"""
"""Uploads to each presigned URL and shows what the script could read of each."""


class _PageServer(http.server.ThreadingHTTPServer):
    page: bytes = b""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """Serve the page, whatever the path."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def log_message(self, *_: Any) -> None:  # quiet
        pass


@pytest.fixture(name="page_server")
def page_server_fixture() -> Iterator[_PageServer]:
    """A local web server on 127.0.0.1 standing in for the UI's origin."""
    server = _PageServer(("127.0.0.1", 0), _PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(name="browser")
def browser_fixture(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile that talks to nothing but the test."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=str(CHROMEDRIVER))
    )
    yield driver
    driver.quit()


def test_page_on_another_origin_uploads_and_reads_the_etag(
    session_stack: RunningStack, page_server: _PageServer, browser: webdriver.Chrome
) -> None:
    s3 = session_stack.client("s3")
    uploads = {
        # Has the UI's CORS rule.
        "originals": ("biomage-originals-development", "exp/browser-upload.bin"),
        # Has none: the page must not get to read the ETag.
        "plots": ("plots-tables-development", "exp/browser-upload.bin"),
    }
    urls = {
        name: s3.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}
        )
        for name, (bucket, key) in uploads.items()
    }
    page_server.page = (PAGE % (json.dumps(urls), json.dumps(BODY))).encode()
    origin = f"http://localhost:{page_server.server_address[1]}"
    assert not session_stack.endpoint.startswith(origin)  # a cross-origin upload

    browser.get(f"{origin}/upload.html")
    shown = WebDriverWait(browser, 30).until(
        lambda driver: driver.find_element(By.ID, "result").text
    )
    results = json.loads(shown)

    bucket, key = uploads["originals"]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert results["originals"] == {"status": 200, "etag": head["ETag"]}
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == BODY.encode()
    assert results["plots"].get("etag") is None, results


ATTACK = """<!doctype html>
<meta charset="utf-8">
<title>attack</title>
<pre id="result"></pre>
<script>
const stack = %s;
const outcome = (promise) => promise
  .then((r) => r.text().then((body) => ({status: r.status, body})))
  .catch((e) => ({error: String(e)}));
outcome(fetch(stack + "/moto-api/reset", {
  method: "POST", mode: "no-cors", body: "x", headers: {"Content-Type": "text/plain"},
})).then((reset) => outcome(fetch(stack + "/moto-api/data.json")).then((data) => {
  document.getElementById("result").textContent = JSON.stringify({reset, data});
}));
</script>
"""
"""A page of another site that resets the stack and reads its data, if it can."""


def test_a_page_on_another_origin_cannot_reset_or_read_the_stack(
    make_stack: Any, page_server: _PageServer, browser: webdriver.Chrome
) -> None:
    stack = make_stack().wait_ready()
    buckets = stack.client("s3").list_buckets()["Buckets"]
    assert buckets
    page_server.page = (ATTACK % json.dumps(stack.endpoint)).encode()
    browser.get(f"http://localhost:{page_server.server_address[1]}/attack.html")
    shown = WebDriverWait(browser, 30).until(
        lambda driver: driver.find_element(By.ID, "result").text
    )
    results = json.loads(shown)
    assert results["reset"] == {"status": 0, "body": ""}  # opaque: sent, unread
    assert "error" in results["data"], results  # no CORS header: unreadable
    assert stack.client("s3").list_buckets()["Buckets"] == buckets
    browser.get(f"{stack.endpoint}/moto-api/data.json")  # the developer, by hand
    assert '"s3"' in browser.find_element(By.TAG_NAME, "body").text
