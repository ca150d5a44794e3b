"""The web page in a real headless browser (Debian's chromium driven by Playwright).

Nothing is fetched from the network: the page and its audio come from a server on 127.0.0.1
over a tiny random-weight model. Skipped, with the reason, when the `ui` extra (gradio,
playwright) or /usr/bin/chromium is missing.
"""

import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web page needs the `ui` extra: pip install -e '.[ui]'")
pytest.importorskip("playwright", reason="browser tests need the `ui` extra (playwright)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("browser tests need Debian's chromium: apt-get install chromium",
                allow_module_level=True)

from playwright.sync_api import sync_playwright
from ui_server import serve

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword")]

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]
TIMEOUT_MS = 60_000

# Fetch an audio element's source in the page and decode it with the browser's own decoder.
DECODE = """async (src) => {
    const data = await (await fetch(src)).arrayBuffer();
    const audio = await new OfflineAudioContext(1, 16000, 16000).decodeAudioData(data);
    const x = audio.getChannelData(0);
    let sum = 0;
    for (const v of x) sum += v * v;
    return {duration: audio.duration, rms: Math.sqrt(sum / x.length)};
}"""

# Times (ms after the click) at which the live player first plays and the page says "Done".
WATCH = """() => {
    window.__times = {};
    const t0 = performance.now();
    document.addEventListener('playing', (e) => {
        if (e.target.closest('#live') && !window.__times.playing)
            window.__times.playing = performance.now() - t0;
    }, true);
    new MutationObserver(() => {
        const s = document.querySelector('#status');
        if (s && s.innerText.startsWith('Done') && !window.__times.done)
            window.__times.done = performance.now() - t0;
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # a few ms per LM step: generation lasts long enough to hear the stream before it ends
    with serve(tmp_path_factory.mktemp("ui"), step_delay=0.015, max_duration=10) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server, wait_until="domcontentloaded")
    yield page
    page.close()


def _generate(page, prompts: str, duration: str) -> None:
    page.locator("#prompts textarea").fill(prompts)
    page.locator("#duration input").fill(duration)
    page.locator("#generate").click()


def test_generate_in_the_page_gives_audio_of_the_requested_duration(page):
    _generate(page, "a dog barks\nrain on a tin roof", "2.5")
    page.wait_for_selector("#result-1 audio[src]", state="attached")
    for i in range(2):
        src = page.locator(f"#result-{i} audio[src]").first.get_attribute("src")
        audio = page.evaluate(DECODE, src)
        assert audio["duration"] == pytest.approx(2.5, abs=1e-3)
        assert audio["rms"] > 1e-3  # not silent
        assert page.locator(f"#spectrogram-{i} img").count() == 1
    page.get_by_text("Done:").wait_for()
    seed = page.locator("#seed input").input_value()
    assert seed.isdigit() and f"seed {seed}" in page.locator("#status").inner_text()
    history = page.locator("#history").inner_text()  # the page's results, with settings
    assert "a dog barks" in history and "rain on a tin roof" in history and seed in history
    page.locator("#compare-pick input").click()  # play an earlier result again
    page.get_by_role("option", name="rain on a tin roof").click()
    page.wait_for_selector("#compare audio[src]", state="attached")


@pytest.mark.skipif(shutil.which("ffmpeg") is None,
                    reason="streamed playback needs ffmpeg (Gradio encodes the stream with it)")
def test_live_player_starts_before_generation_ends(page):
    page.evaluate(WATCH)
    _generate(page, "a dog barks", "3")
    page.wait_for_function("() => window.__times.done")
    times = page.evaluate("() => window.__times")
    # the first prompt's audio started playing while the rest was still being generated
    assert "playing" in times and times["playing"] < times["done"]


def test_bad_input_shows_a_message_and_the_page_keeps_working(page):
    _generate(page, "thunder", "99")
    page.get_by_text("at most 10 s, got 99").first.wait_for(timeout=15_000)
    _generate(page, "", "1")
    page.get_by_text("Enter a prompt").first.wait_for(timeout=15_000)
    _generate(page, "thunder", "0.5")
    page.wait_for_selector("#result-0 audio[src]", state="attached")
    assert "Done" in page.locator("#status").inner_text()


def test_two_pages_at_once_both_complete(browser, server):
    pages = [browser.new_page() for _ in range(2)]
    started = time.monotonic()
    for p in pages:
        p.set_default_timeout(TIMEOUT_MS)
        p.goto(server, wait_until="domcontentloaded")
        p.locator("#generate").wait_for()
        assert "queue" not in p.locator("body").inner_text().lower()
    for p, duration in zip(pages, ["3", "1"]):  # both share the decode loop
        _generate(p, "a bell rings", duration)
    for p in pages:
        p.wait_for_selector("#result-0 audio[src]", state="attached")
        assert "Done" in p.locator("#status").inner_text()
        p.close()
    assert time.monotonic() - started < TIMEOUT_MS / 1000


def test_continue_an_uploaded_clip(page, tmp_path):
    import numpy as np
    import soundfile as sf

    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.3 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000), 16000)
    page.get_by_text("Continue a clip").click()
    page.locator("#clip input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#clip audio[src]", state="attached")  # the upload is in
    _generate(page, "", "1.5")
    page.wait_for_selector("#result-0 audio[src]", state="attached")
    audio = page.evaluate(DECODE, page.locator("#result-0 audio[src]").first.get_attribute("src"))
    assert audio["duration"] == pytest.approx(1.5, abs=1e-3)
    assert "true" in page.locator("#history").inner_text()  # listed as a continuation
