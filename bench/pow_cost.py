"""What the optional proof of work costs: a visitor's browser (pow.js in headless Chromium) and the server.

Usage: .venv/bin/python bench/pow_cost.py [ROUNDS]   (prints a table; needs /usr/bin/chromium)
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from forms import pow as proof_of_work

ROOT = Path(__file__).resolve().parent.parent
SOLVE = """([prefix, bits]) => new Promise(resolve => {
  const start = performance.now();
  window.leadcapturePow.solve(prefix, bits, nonce => resolve([nonce, performance.now() - start]));
})"""


def main(rounds: int = 10) -> None:
    """Median and worst browser time per difficulty, and the server's verify time."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.set_content("<form></form>")
        page.add_script_tag(path=str(ROOT / "leadcapture" / "static" / "pow.js"))
        print("bits  browser median ms  browser max ms  server verify us")
        for bits in (8, 12, 14, 16, 18, 20):
            times = []
            for _ in range(rounds):
                token, email = secrets.token_urlsafe(60), "someone@example.com"
                nonce, ms = page.evaluate(SOLVE, [f"{token}:{email}:", bits])
                assert proof_of_work.verify(token, email, nonce, bits)
                times.append(ms)
            start = time.perf_counter()
            for _ in range(10_000):
                proof_of_work.verify(token, email, nonce, bits)
            verify_us = (time.perf_counter() - start) / 10_000 * 1e6
            print(f"{bits:>4}  {statistics.median(times):>17.0f}  {max(times):>14.0f}  {verify_us:>16.1f}")
        browser.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
