"""``report.html`` in a real browser: headless Chromium (Debian's ``chromium``, which the
install script installs) driven by Playwright. Runs wherever both are present, and is skipped,
saying why, where they are not."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from advex.analysis.report import write_report
from advex.engine.compare import run_compare

sys.path.insert(0, str(Path(__file__).parent))
from tiny_experiment import TINY, tiny_config  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on PATH")


#: Per image: alt text, whether it decodes, its width, and the share of its pixels that are
#: drawn (opaque and darker than near-white), read back through a canvas.
DRAWN_SHARE = """async () => Promise.all(Array.from(document.images).map(async (img) => {
  try { await img.decode(); } catch (e) { return [img.alt, false, 0, 0]; }
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 0 && Math.min(pixels[i], pixels[i + 1], pixels[i + 2]) < 230) ink++;
  }
  return [img.alt, true, img.naturalWidth, ink / (pixels.length / 4)];
}))"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "cmp"
    cfg = tiny_config(strategies=["random", "adversarial-sf"],
               evaluation={**TINY["evaluation"], "points": "every"})  # type: ignore[dict-item]
    frame: pd.DataFrame = run_compare(cfg, out, backend="serial", progress=False)
    write_report(out, frame)
    return out / "report.html"


def test_report_opens_offline_with_every_image_and_no_console_error(report: Path) -> None:
    console: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(DRAWN_SHARE)
            tables = page.locator("table").count()
            headline = page.locator("table").first.inner_text()
        finally:
            browser.close()
    assert [alt for alt, _, _, _ in images] == [
        "Sample efficiency", "Coverage maps", "Predicted vs true rollouts"
    ]
    # decoded, and drawn: a truncated PNG still has a width, but its pixels stay blank
    assert all(ok and width > 100 and ink > 0.03 for _, ok, width, ink in images), images
    assert tables >= 2 and "adversarial-sf" in headline and "oracle" in headline
    assert not [c for c in console if c.startswith(("error", "pageerror"))], console
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not outside, f"the report fetched {outside}"
