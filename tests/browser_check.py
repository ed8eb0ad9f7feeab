"""Open a report in headless Chromium (Playwright driving the system's chromium): collect
console errors, render the sequence browser and a motif page, write screenshots.

Used by tests/test_report_browser.py; also runs alone:
``python tests/browser_check.py report.html outdir``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    """The system's chromium, or None."""
    return next(
        (shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None
    )


def check_report(report: Path, out: Path, *, motif: str | None = None) -> dict:
    """Open ``report``; return console errors, fetched URLs and what the pages show; write
    ``sequences.png`` and ``motif.png`` into ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    found = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: m.type == "error" and found["errors"].append(m.text))
        page.on("pageerror", lambda e: found["errors"].append(str(e)))
        page.on("request", lambda r: found["requests"].append(r.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        rows = page.locator("#seq-table tr")
        found["n_rows"] = rows.count() - 1  # minus the header
        if found["n_rows"] > 0:
            page.locator("#seq-table th").nth(2).click()  # sort by the first prediction
            page.locator("#seq-table tr").nth(1).click()
            page.wait_for_timeout(300)
            found["n_canvases"] = page.locator("#seq-detail canvas").count()
            found["hash"] = page.evaluate("location.hash")
            found["canvas_ink"] = page.evaluate(
                "(() => { const c = document.querySelector('#seq-detail canvas');"
                " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; }"
                " return n; })()"
            )
            page.locator("#sequences").screenshot(path=str(out / "sequences.png"))
        if motif:
            page.goto(f"{report.as_uri()}#{motif}")
            page.wait_for_timeout(300)
            block = page.locator(f"#{motif}")
            found["motif_visible"] = block.is_visible()
            found["motif_text"] = block.inner_text()
            block.screenshot(path=str(out / "motif.png"))
            links = block.locator("a[href^='#seq-']")
            found["n_instance_links"] = links.count()
            if links.count():
                links.last.click()
                page.wait_for_timeout(300)
                found["after_link"] = page.locator("#seq-detail h3").inner_text()
        page.screenshot(path=str(out / "top.png"))
        browser.close()
    found["requests"] = [u for u in found["requests"] if not u.startswith(("file:", "data:"))]
    return found


if __name__ == "__main__":
    import json
    import sys

    found = check_report(
        Path(sys.argv[1]), Path(sys.argv[2]), motif=sys.argv[3] if len(sys.argv) > 3 else None
    )
    found["motif_text"] = found.get("motif_text", "")[:300]
    print(json.dumps(found, indent=1, default=str))
