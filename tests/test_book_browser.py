"""The built book in a real browser: headless Chromium driven by Playwright.

Reads the HTML that `make book` left in `_build/html` (this test does not build), serves it
over HTTP on 127.0.0.1, and checks every page listed in `_toc.yml`: it loads; MathJax typeset
every formula and no raw TeX is left; every image loaded and has alt text, every figure a
caption; no JavaScript error; no request left the machine (MathJax and the animation's icons
come with the site); the next/previous links follow the table of contents; the repository,
launch and download buttons are there; every link inside the page to another file of the site
(a chapter, a downloadable notebook) points at a file that exists. Also: the convolution
animation steps, the search page finds "padding" (and "1×1"), a result opened from it highlights
the searched word, and a printed page wraps its code and leaves out the controls. A screenshot
of every page goes to tests/screenshots/ (git-ignored).
"""
import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.browser      # pytest -m browser selects this module

ROOT = Path(__file__).resolve().parents[1]
# BOOK_HTML lets you test a book built elsewhere (jupyter-book build . --path-output DIR).
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac|\\sum")


def _toc_pages(node):
    """Documents of a _toc.yml node, depth first, in reading order."""
    pages = [node["file"]] if "file" in node else []
    for key in ("parts", "chapters", "sections"):
        for child in node.get(key, []):
            pages += _toc_pages(child)
    return pages


def toc_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + _toc_pages({k: v for k, v in toc.items() if k != "root"})


PAGES = toc_order()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """Base URL of `_build/html` served on 127.0.0.1 at a free port."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} has no built book: run make book first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
A4 = {"width": 794, "height": 1123}        # an A4 page at 96 px per inch


def open_page(browser, url, viewport=DESKTOP):
    """Open `url`; return the page and the lists its listeners fill."""
    page = browser.new_page(viewport=viewport)
    seen = {"console": [], "pageerror": [], "external": [], "http_errors": [], "failed": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["pageerror"].append(str(e)))
    page.on("request", lambda r: seen["external"].append(r.url)
            if urlsplit(r.url).hostname not in ("127.0.0.1", None) and
            not r.url.startswith("data:") else None)
    page.on("response", lambda r: seen["http_errors"].append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.goto(url, wait_until="load")
    return page, seen


def page_url(site, doc):
    return urljoin(site, doc + ".html")


def _site_file(url):
    """The file of the built site that a URL of the local server names."""
    return HTML / unquote(urlsplit(url).path).lstrip("/")


@functools.lru_cache(maxsize=None)
def _anchors(path):
    """Every id (and name) of an element in a built HTML file: the targets of #fragments."""
    text = path.read_text(errors="replace") if path.suffix == ".html" else ""
    return frozenset(re.findall(r'\s(?:id|name)="([^"]+)"', text))


def wait_for_mathjax(page):
    """Wait until MathJax has typeset the page (when it has math); return #math elements."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    n_math = page.locator("article .math").count()
    if n_math:
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup"
                                   " && MathJax.startup.promise", timeout=20000)
        except PlaywrightTimeout:
            pytest.fail(f"{page.url}: {n_math} formulas but MathJax never started "
                        "(is _static/mathjax/ in the build? see book/_ext/offline_assets.py)")
        page.evaluate("() => MathJax.startup.promise")
    return n_math


def wait_for_images(page):
    page.evaluate("() => document.querySelectorAll('img[loading=lazy]')"
                  ".forEach(i => i.loading = 'eager')")
    page.wait_for_function("() => Array.from(document.images)"
                           ".every(i => i.complete && i.getAttribute('src'))", timeout=20000)


def prose_text(page):
    """Text of the article without code blocks (code may hold a backslash or a dollar)."""
    return page.evaluate("""() => {
        const a = document.querySelector('article').cloneNode(true);
        a.querySelectorAll('pre, code, .highlight, mjx-container, script, style')
         .forEach(e => e.remove());
        return a.textContent; }""")


@pytest.mark.parametrize("doc", PAGES)
def test_page(site, browser, doc):
    page, seen = open_page(browser, page_url(site, doc))
    try:
        assert page.locator("article h1").count() >= 1, f"{doc}: no title"
        n_math = wait_for_mathjax(page)
        if n_math:
            typeset = page.locator("article .math mjx-container").count()
            assert typeset >= n_math, f"{doc}: MathJax typeset {typeset} of {n_math} formulas"
            # a formula MathJax cannot parse is still "typeset": as red text in an mjx-merror
            bad = page.evaluate("() => Array.from(document.querySelectorAll('article mjx-merror'))"
                                ".map(e => (e.getAttribute('data-mjx-error') || e.textContent)"
                                ".slice(0, 80))")
            assert not bad, f"{doc}: formulas MathJax could not read: {bad[:5]}"
        raw = RAW_TEX.findall(prose_text(page))
        assert not raw, f"{doc}: raw TeX left in the page: {raw[:5]}"

        wait_for_images(page)
        broken = page.evaluate("() => Array.from(document.images)"
                               ".filter(i => !(i.naturalWidth > 0)).map(i => i.src.slice(0, 80))")
        assert not broken, f"{doc}: images that did not load: {broken}"
        no_alt = page.evaluate("() => Array.from(document.querySelectorAll('article img'))"
                               ".filter(i => !(i.alt || '').trim()).map(i => i.src.slice(0, 80))")
        assert not no_alt, f"{doc}: images without alt text: {no_alt}"
        uncaptioned = page.locator("article figure:not(:has(figcaption))").count()
        assert uncaptioned == 0, f"{doc}: {uncaptioned} figures without a caption"

        nav = page.evaluate("""() => ({
            prev: document.querySelector('.prev-next-area a.left-prev')?.href ?? null,
            next: document.querySelector('.prev-next-area a.right-next')?.href ?? null})""")
        k = PAGES.index(doc)
        want_prev = page_url(site, PAGES[k - 1]) if k > 0 else None
        want_next = page_url(site, PAGES[k + 1]) if k + 1 < len(PAGES) else None
        strip = (lambda u: u.split("#")[0] if u else None)
        assert strip(nav["prev"]) == want_prev, f"{doc}: previous link {nav['prev']}"
        assert strip(nav["next"]) == want_next, f"{doc}: next link {nav['next']}"

        links = page.evaluate("() => Array.from(document.querySelectorAll("
                              "'.article-header-buttons a')).map(a => a.href)")
        assert any(h.startswith("https://github.com/") for h in links), \
            f"{doc}: no repository button"
        if (HTML / "_sources" / f"{doc}.ipynb").is_file():      # an executed notebook page
            assert any(h.startswith("https://mybinder.org/") for h in links), f"{doc}: no Binder link"
            assert not any("colab.research.google.com" in h for h in links), \
                f"{doc}: a Colab button would open the .md source, which Colab cannot read"
            assert any(h.endswith(f"_sources/{doc}.ipynb") for h in links), \
                f"{doc}: no .ipynb download button"

        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'))"
                              ".map(a => a.href)")
        dead = [h for h in hrefs if h.startswith(site) and not _site_file(h).is_file()]
        assert not dead, f"{doc}: links to files that are not in the site: {dead}"
        placeholders = [h for h in hrefs if re.search(r"//([^/]*\.)?example\.(org|com|net)\b", h)]
        assert not placeholders, f"{doc}: links to a placeholder address: {placeholders}"
        lost = [h for h in hrefs if h.startswith(site) and urlsplit(h).fragment
                and unquote(urlsplit(h).fragment) not in _anchors(_site_file(h))]
        assert not lost, f"{doc}: links to anchors that the target page does not have: {lost}"

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{k:02d}_{Path(doc).name}.png"), full_page=True)

        # no console error at all: the theme's "Got invalid theme mode" message is fixed at
        # its root (html_context.default_mode in _config.yml), not tolerated here
        assert not seen["console"], f"{doc}: JavaScript console errors: {seen['console']}"
        assert not seen["pageerror"], f"{doc}: uncaught JavaScript errors: {seen['pageerror']}"
        assert not seen["http_errors"], f"{doc}: HTTP errors: {seen['http_errors']}"
        assert not seen["failed"], f"{doc}: failed requests: {seen['failed']}"
        assert not seen["external"], f"{doc}: requests that leave the site: {seen['external']}"
    finally:
        page.close()


def test_mathjax_is_served_by_the_book(site, browser):
    """The MathJax script is a local file, and no built page mentions a MathJax CDN."""
    for html in HTML.rglob("*.html"):
        text = html.read_text(errors="replace")
        assert "cdn.jsdelivr.net" not in text and "mathjax@3" not in text, html
    page, _ = open_page(browser, page_url(site, "book/04_convolution"))
    try:
        src = page.evaluate("() => Array.from(document.scripts).map(s => s.src)"
                            ".filter(s => /mathjax/i.test(s))")
        assert src and all(s.startswith(site) for s in src), src
    finally:
        page.close()


def test_convolution_animation_steps(site, browser):
    page, seen = open_page(browser, page_url(site, "book/04_convolution"))
    try:
        player = page.locator("div.animation").first
        assert player.count() == 1, "no animation player on the convolution page"
        for title in ["First frame", "Previous frame", "Play", "Pause", "Next frame",
                      "Last frame"]:
            button = player.locator(f'button[title="{title}"]')
            assert button.count() == 1, f"no '{title}' button"
            assert button.locator("svg").count() == 1, f"'{title}' has no icon"
        img, slider = player.locator("img"), player.locator("input.anim-slider")
        page.wait_for_function("(img) => img.getAttribute('src')", arg=img.element_handle())
        n_frames = int(slider.get_attribute("max")) + 1
        assert n_frames > 1
        first = img.get_attribute("src")
        player.locator('button[title="Next frame"]').click()
        second = img.get_attribute("src")
        assert second != first, "stepping did not change the frame"
        assert slider.input_value() == "1"
        player.locator('button[title="Last frame"]').click()
        assert slider.input_value() == str(n_frames - 1)
        player.locator('button[title="First frame"]').click()
        assert img.get_attribute("src") == first
        assert not seen["external"], seen["external"]
    finally:
        page.close()


def test_an_animation_on_a_phone_keeps_its_size_and_scrolls_in_its_box(site, browser):
    """Shrunk to a 390 px phone's column, the convolution animation's numbers were 5-6 px tall
    (a reader's pass). On a phone the frame keeps its own width and its box scrolls sideways;
    the page itself does not."""
    page, _ = open_page(browser, page_url(site, "book/04_convolution"), viewport=PHONE)
    try:
        page.wait_for_function("() => document.querySelector('div.animation img').naturalWidth > 0")
        box = page.evaluate("""() => { const a = document.querySelector('div.animation');
            const i = a.querySelector('img');
            return {shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
                    box: a.getBoundingClientRect().right, scroll: getComputedStyle(a).overflowX,
                    page: document.documentElement.scrollWidth,
                    vw: document.documentElement.clientWidth}; }""")
        assert box["natural"] > box["vw"] and abs(box["shown"] - box["natural"]) < 2, box
        assert box["scroll"] == "auto" and box["box"] <= box["vw"] and box["page"] <= box["vw"], box
    finally:
        page.close()


def test_search_finds_padding(site, browser):
    page, seen = open_page(browser, urljoin(site, "search.html?q=padding"))
    try:
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=20000)
        hrefs = [a.get_attribute("href") for a in results.locator("a").all()]
        docs = {urlsplit(urljoin(site, h)).path.lstrip("/").removesuffix(".html") for h in hrefs}
        assert "book/04_convolution" in docs, f"search for padding found {sorted(docs)}"
    finally:
        page.close()


def _search(page, site, query):
    """Run `query` on the search page; return the documents it found, in order."""
    page.goto(urljoin(site, "search.html?q=" + quote(query)), wait_until="load")
    page.wait_for_function("() => /\\S/.test(document.querySelector('#search-results "
                           ".search-summary')?.textContent || '')", timeout=20000)
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll("
                          "'#search-results ul.search li a')).map(a => a.href)")
    return [urlsplit(h).path.lstrip("/").removesuffix(".html") for h in hrefs]


def test_a_search_result_highlights_the_searched_word(site, browser):
    """A result opened from the search page highlights the searched word, with Sphinx's
    "Hide Search Matches" link above the article: sphinx_highlight.js skipped every page because
    pydata-sphinx-theme loads searchtools.js everywhere (theme_fixes.js calls it). The link is
    not printed."""
    page, seen = open_page(browser, urljoin(site, "search.html"))
    try:
        # the search page itself does not highlight the previous search's word (the sidebar's
        # "Convolution") outside its results
        _search(page, site, "convolution")
        _search(page, site, "padding")
        stray = page.locator("span.highlighted:not(#search-results span.highlighted)")
        assert stray.count() == 0, "the search page highlighted the previous search's words"
        docs = _search(page, site, "im2col")
        assert docs, "search for im2col found nothing"
        page.locator("#search-results ul.search li a").first.click()
        page.wait_for_url(re.compile(re.escape(page_url(site, docs[0]))))
        page.wait_for_function("() => document.querySelectorAll('article span.highlighted')"
                               ".length > 0", timeout=5000)
        words = page.evaluate("() => Array.from(document.querySelectorAll("
                              "'article span.highlighted')).map(s => s.textContent.toLowerCase())")
        assert set(words) == {"im2col"}, words
        hide = page.locator("#searchbox .highlight-link a")
        assert hide.is_visible(), "no Hide Search Matches link above the article"
        page.emulate_media(media="print")
        assert not hide.is_visible(), "the Hide Search Matches link is printed"
        page.emulate_media(media="screen")
        hide.click()
        page.wait_for_function("() => !document.querySelector('span.highlighted')", timeout=3000)
        assert page.locator("#searchbox .highlight-link").count() == 0
        for kind in ("console", "pageerror"):
            assert not seen[kind], f"{kind}: {seen[kind]}"
    finally:
        page.close()


def test_search_finds_sizes_spelled_with_a_times_sign(site, browser):
    """Searching "1×1", the chapter title's spelling, found nothing (Sphinx splits the query at
    "×" and drops the numbers left): theme_fixes.js searches "1x1", the search box still says
    "1×1", and the chapter opened from the result highlights the "1×1" of its title."""
    page, _ = open_page(browser, urljoin(site, "search.html"))
    try:
        for query in ("1×1", "1 × 1"):
            docs = _search(page, site, query)
            assert "book/07b_one_by_one" in docs, f"search for {query!r} found {docs}"
        assert "book/07b_one_by_one" in _search(page, site, "1x1")
        assert "book/05_hyperparameters" in _search(page, site, "3×3")
        docs = _search(page, site, "1×1")
        assert page.locator("input[name=q]").first.input_value() == "1×1"
        page.locator("#search-results ul.search li a").nth(docs.index("book/07b_one_by_one")).click()
        page.wait_for_url(re.compile(re.escape(page_url(site, "book/07b_one_by_one"))))
        page.wait_for_function("() => document.querySelector('article h1 span.highlighted')",
                               timeout=5000)
        assert page.locator("article h1 span.highlighted").first.text_content() == "1×1"
    finally:
        page.close()


def test_printing_wraps_long_code_lines(site, browser):
    """Printed, a code line longer than the column was cut at the page's edge (pre keeps the
    screen's sideways scroll): book.css wraps code in print, and only in print. Chapter 8 has
    code and output lines wider than an A4 column."""
    page, _ = open_page(browser, page_url(site, "book/07_pooling"), viewport=A4)
    try:
        wide = "() => Array.from(document.querySelectorAll('article pre'))" \
               ".filter(p => p.getClientRects().length && p.scrollWidth > p.clientWidth + 1)" \
               ".map(p => p.textContent.split('\\n')[0].slice(0, 60))"
        assert page.evaluate(wide), "no code block of chapter 8 scrolls sideways on screen"
        page.emulate_media(media="print")
        cut = page.evaluate(wide)
        assert not cut, f"printed code blocks cut at the margin: {cut[:5]}"
    finally:
        page.close()


def test_printing_keeps_formulas_whole_and_leaves_out_the_controls(site, browser):
    """Printed, a display formula could be split from its equation number across two pages, and
    the page printed controls that do nothing on paper: the hidden cells' "Show code cell
    source", the player's buttons and slider, the copy buttons. Chapter 4 has all of them."""
    page, _ = open_page(browser, page_url(site, "book/04_convolution"), viewport=A4)
    try:
        wait_for_mathjax(page)
        controls = {"hidden cells' toggles": "article details.hide > summary",
                    "player controls": "article .animation .anim-controls",
                    "copy buttons": "article button.copybtn"}
        shown = "(s) => Array.from(document.querySelectorAll(s))" \
                ".filter(e => e.getClientRects().length).length"
        for name, selector in controls.items():
            assert page.evaluate(shown, selector), f"chapter 4 shows no {name} on screen"
        page.emulate_media(media="print")
        for name, selector in controls.items():
            assert page.evaluate(shown, selector) == 0, f"the {name} are printed"
        numbered = page.evaluate("""() => Array.from(document.querySelectorAll('article .eqno'))
            .map(n => getComputedStyle(n.closest('div.math')).breakInside)""")
        assert numbered and all(b == "avoid" for b in numbered), \
            f"numbered formulas may break across pages: {numbered}"
        split = page.evaluate("""() => Array.from(document.querySelectorAll(
                'article div.math, article mjx-container[display="true"]'))
            .filter(m => getComputedStyle(m).breakInside !== 'avoid').length""")
        assert split == 0, f"{split} display formulas may break across pages"
    finally:
        page.close()


def test_offline_assets_extension_finds_mathjax_and_dedupes_scripts():
    """The local Sphinx extension behind offline MathJax (book/_ext/offline_assets.py)."""
    import importlib.util

    from sphinx.builders.html._assets import _JavaScript

    spec = importlib.util.spec_from_file_location(
        "offline_assets", ROOT / "book" / "_ext" / "offline_assets.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    assert (ext.mathjax_static_dir() / ext.MATHJAX_FILE).is_file()
    body = 'const THEBE_JS_URL = "x";'
    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, body=body),
               _JavaScript("", body=body), _JavaScript("_static/a.js"),
               _JavaScript(None, body="let y = 1;")]
    context = {"script_files": scripts}
    ext._dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts          # edited in place, order kept
    assert [(s.filename, s.attributes) for s in scripts] == [
        ("_static/a.js", {}), (None, {"body": body}), (None, {"body": "let y = 1;"})]


# Elements of the article wider than a phone's screen that the reader could not see: the page
# itself must not scroll sideways, and a wide element (a table, a formula, a figure, code) must
# sit in a box that scrolls sideways, never be cut off.
HIDDEN_OVERFLOW_JS = """() => {
    const vw = document.documentElement.clientWidth;
    const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    const cut = [], flagged = new Set();
    for (const e of document.querySelectorAll('article *')) {
        // a formula's MathML for screen readers and other visually hidden text is clipped away
        if (e.closest('mjx-assistive-mml, .visually-hidden')) continue;
        const r = e.getBoundingClientRect();
        if (r.width === 0 || r.right <= vw + 1) continue;
        if (flagged.has(e.parentElement)) { flagged.add(e); continue; }   // report the outermost
        let a = e.parentElement, ok = false;
        while (a && a.tagName !== 'ARTICLE') {
            if (scrolls(a) && a.getBoundingClientRect().right <= vw + 1) { ok = true; break; }
            a = a.parentElement;
        }
        if (!ok && !(scrolls(e) && e.parentElement.getBoundingClientRect().right <= vw + 1)) {
            flagged.add(e);
            cut.push(e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
                     ? '.' + String(e.className).split(' ')[0] : '')
                     + ' ' + Math.round(r.width) + 'px'
                     + ' "' + (e.textContent || '').trim().slice(0, 40) + '"');
        }
    }
    return {page: document.documentElement.scrollWidth, vw: vw, cut: [...new Set(cut)]};
}"""


SMALL_PHONE = {"width": 320, "height": 568}     # WCAG 1.4.10 (reflow): 320 CSS px


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["390px", "320px"])
@pytest.mark.parametrize("doc", PAGES)
def test_page_on_a_phone(site, browser, doc, viewport):
    """At 390 x 844, and at the 320 px of WCAG's reflow rule, the page does not scroll
    sideways, nothing is cut off (at 320 px chapter 11's inline formula lost its "= 6.0"),
    the formulas are typeset (and those that scroll sideways are tab stops), the images load,
    and nothing fails in the console."""
    page, seen = open_page(browser, page_url(site, doc), viewport=viewport)
    try:
        if wait_for_mathjax(page):
            # a formula that scrolls sideways is a tab stop, else a keyboard cannot scroll it
            # (axe's scrollable-region-focusable found 9); one that fits is none
            wrong = wide_formulas_out_of_reach(page)
            assert not wrong, f"{doc}: formulas wrongly in or out of the tab order: {wrong[:5]}"
        wait_for_images(page)
        width = page.evaluate(HIDDEN_OVERFLOW_JS)
        assert width["page"] <= width["vw"], (
            f"{doc}: on a phone the page is {width['page']} px wide for a {width['vw']} px screen")
        assert not width["cut"], f"{doc}: wider than a phone's screen and cut off: {width['cut'][:8]}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        small = "" if viewport == PHONE else f"_{viewport['width']}"
        page.screenshot(path=str(SCREENSHOTS / f"{PAGES.index(doc):02d}_{Path(doc).name}"
                                               f"_phone{small}.png"), full_page=True)
        for kind in ("console", "pageerror", "http_errors", "failed", "external"):
            assert not seen[kind], f"{doc} on a phone: {kind}: {seen[kind]}"
        for fig in page.evaluate(SHRUNK_JS):
            assert fig["link"] == fig["src"] and _site_file(fig["link"]).is_file(), (
                f"{doc}: a figure shown at {fig['shown']} of its {fig['natural']} px is not a "
                f"link to its full-size image: {fig}")
    finally:
        page.close()


# Figures shown smaller than their pixels (1.2x or more), each with the link zoom.js puts around it
SHRUNK_JS = """() => Array.from(document.querySelectorAll(
        'article .cell_output img, article figure img'))
    .filter(i => !i.closest('.animation') && i.naturalWidth > 1.2 * i.getBoundingClientRect().width)
    .map(i => ({src: i.currentSrc || i.src, natural: i.naturalWidth,
                shown: Math.round(i.getBoundingClientRect().width),
                link: (i.closest('a.figure-zoom') || {}).href || null}))"""


def test_shrunk_figures_open_at_full_size(site, browser):
    """On a phone the pipeline figure of chapter 2 is shrunk to the screen; tapped, it opens
    its own image file at full size (book/_assets/zoom.js)."""
    page, _ = open_page(browser, page_url(site, "book/02_what_is_a_cnn"), viewport=PHONE)
    try:
        wait_for_images(page)
        shrunk = page.evaluate(SHRUNK_JS)
        assert shrunk and all(f["link"] for f in shrunk), shrunk
        page.locator("a.figure-zoom").first.click()
        page.wait_for_url(shrunk[0]["link"])
        assert page.evaluate("document.images[0].naturalWidth") == shrunk[0]["natural"]
    finally:
        page.close()


def test_the_player_speaks_each_frame(site, browser):
    """A screen reader hears where the window is and the output, frame by frame (an
    accessibility pass: the slider had no name and stepping said nothing)."""
    page, _ = open_page(browser, page_url(site, "book/04_convolution"))
    try:
        player = page.locator("div[role=group]:has(div.animation)").first
        assert (player.get_attribute("aria-label") or "").startswith("Convolution animation: ")
        slider = player.locator("input.anim-slider")
        assert slider.get_attribute("aria-label") == "Frame"
        page.wait_for_function("(s) => (s.getAttribute('aria-valuetext') || '').startsWith('Frame 1 ')",
                               arg=slider.element_handle())
        player.locator('button[title="Next frame"]').click()
        text = slider.get_attribute("aria-valuetext")
        assert re.fullmatch(r"Frame 2 of \d+: the window covers rows \d+ to \d+ and columns \d+ to "
                            r"\d+ of the (padded )?input; output y\[0, 1\] = -?[\d.]+\.", text), text
        assert player.locator("[aria-live=polite]").text_content() == text
    finally:
        page.close()


def test_toggles_formulas_and_buttons_for_keyboards_and_screen_readers(site, browser):
    """book/_assets/a11y.js and book.css: toggles are named as they read ("Answers, click to
    show", then "..., click to hide"), their chevron is hidden from screen readers; formulas
    are not tab stops; the header's buttons show keyboard focus."""
    page, _ = open_page(browser, page_url(site, "book/05b_matrix_product"))
    try:
        wait_for_mathjax(page)
        page.wait_for_load_state("load")
        names = page.evaluate("""() => ({
            summaries: Array.from(document.querySelectorAll('article summary'))
                .map(s => s.getAttribute('aria-label')),
            buttons: Array.from(document.querySelectorAll('article button.toggle-button'))
                .map(b => b.getAttribute('aria-label')),
            tabbable_math: Array.from(document.querySelectorAll('mjx-container[tabindex="0"]'))
                .filter(m => m.scrollWidth <= m.clientWidth + 1).length})""")
        assert names["summaries"] and all(n is None for n in names["summaries"]), names
        # "<title>, click to show": the name holds the words the reader sees (WCAG 2.5.3)
        assert names["buttons"] and all(re.fullmatch(r".+\S, click to show", n)
                                        for n in names["buttons"]), names
        assert names["tabbable_math"] == 0, names
        toggle = page.locator("article button.toggle-button").first
        assert toggle.locator("svg").get_attribute("aria-hidden") == "true"
        title = names["buttons"][0].removesuffix(", click to show")
        toggle.click()
        page.wait_for_function("(b) => b.getAttribute('aria-expanded') === 'true'",
                               arg=toggle.element_handle())
        assert toggle.get_attribute("aria-label") == f"{title}, click to hide"
        toggle.click()
        page.wait_for_function("(b) => b.getAttribute('aria-expanded') === 'false'",
                               arg=toggle.element_handle())
        assert toggle.get_attribute("aria-label") == f"{title}, click to show"
        button = page.locator(".header-article-items .btn").first
        button.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", outline
    finally:
        page.close()


def test_dark_mode_leaves_figures_and_the_player_as_drawn(site, browser):
    """The theme dims images in dark mode (black numbers on mid-grey fell to 3.7:1) and the
    player's radio buttons turned dark on its light panel: neither any more."""
    page, _ = open_page(browser, page_url(site, "book/04_convolution"))
    try:
        page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
        styles = page.evaluate("""() => ({
            filters: Array.from(document.querySelectorAll('article figure img, article .cell_output img'))
                .map(i => getComputedStyle(i).filter),
            scheme: getComputedStyle(document.querySelector('.cell_output .animation')).colorScheme})""")
        assert styles["filters"] and set(styles["filters"]) == {"none"}, styles
        assert styles["scheme"] == "light", styles
    finally:
        page.close()


def test_the_sidebar_buttons_open_the_sidebars(site, browser):
    """book/_assets/theme_fixes.js: the visible ☰ button opens the chapter list (a drawer on a
    phone, hides and shows the sidebar on a desktop) and the contents button the page's
    sections; the themes bound only the hidden twin of each button."""
    url = page_url(site, "book/03_why_it_works")
    page, seen = open_page(browser, url, viewport=PHONE)
    try:
        is_open = "id => document.getElementById(id).open"
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_function(is_open, arg="pst-primary-sidebar-modal", timeout=5000)
        page.keyboard.press("Escape")
        page.locator(".secondary-toggle:visible").first.click()
        page.wait_for_function(is_open, arg="pst-secondary-sidebar-modal", timeout=5000)
        assert not seen["pageerror"], seen["pageerror"]
    finally:
        page.close()
    page, seen = open_page(browser, url)
    try:
        hidden = "() => document.getElementById('pst-primary-sidebar').classList.contains('pst-sidebar-hidden')"
        assert not page.evaluate(hidden)
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_function(hidden, timeout=5000)
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_function(f"() => !({hidden})()", timeout=5000)
    finally:
        page.close()


def test_search_from_disk_lists_results_without_errors(site, browser):
    """The book opened from disk (the introduction's `_build/html/index.html`): a search lists
    its results with no error in the console (theme_fixes.js turns off the snippets, which
    a browser cannot fetch over file://)."""
    page, seen = open_page(browser, (HTML / "search.html").as_uri() + "?q=padding")
    try:
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=20000)
        page.wait_for_function("() => !document.querySelector('#search-progress') || "
                               "document.querySelector('#search-progress').textContent.trim() !== ''",
                               timeout=20000)
        page.wait_for_timeout(500)            # the snippet fetches, if any, have failed by now
        hrefs = [a.get_attribute("href") for a in results.locator("a").all()]
        assert any("04_convolution" in h for h in hrefs), hrefs
        for kind in ("console", "pageerror", "failed"):
            assert not seen[kind], f"search over file://: {kind}: {seen[kind][:3]}"
    finally:
        page.close()


def test_a_lone_next_link_uses_the_width_on_a_phone(site, browser):
    """book.css: the introduction's "Next" link (no "Previous" beside it) may use the whole
    width; at the theme's 45 % chapter 1's title wrapped into a column of broken words."""
    page, _ = open_page(browser, page_url(site, "book/intro"), viewport=PHONE)
    try:
        box = page.locator(".prev-next-area a.right-next").bounding_box()
        assert box["width"] > 0.7 * PHONE["width"], box
        assert box["height"] < 140, f"the Next link is {box['height']:.0f} px tall: {box}"
    finally:
        page.close()


# Display formulas that scroll sideways in their box, and whether each is a named tab stop
# (book/_assets/a11y.js): a keyboard can only scroll a box it can focus.
WIDE_FORMULAS_JS = """() => Array.from(document.querySelectorAll('article mjx-container[display="true"]'))
    .map(m => ({wide: m.scrollWidth > m.clientWidth + 1, tab: m.tabIndex === 0
                && m.getAttribute('tabindex') === '0', role: m.getAttribute('role'),
                name: m.getAttribute('aria-label'),
                tex: (m.closest('.math') || m).textContent.trim().slice(0, 40)}))"""


def wide_formulas_out_of_reach(page):
    """Display formulas that scroll but are not tab stops named as such ("Formula (4.1),
    scrolls sideways", or "Formula 3, ..." without an equation number; no name twice), and
    tab stops that do not scroll; waits a moment for a11y.js, which runs after MathJax."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    named = "/^Formula (\\(\\d+\\.\\d+\\)|\\d+), scrolls sideways$/.test(f.name || '')"
    wrong = ("() => (" + WIDE_FORMULAS_JS + ")().some(f => f.wide !== f.tab || (f.wide && "
             f"(f.role !== 'region' || !{named})))")
    try:
        page.wait_for_function(f"() => !({wrong})()", timeout=5000)
    except PlaywrightTimeout:
        pass
    formulas = page.evaluate(WIDE_FORMULAS_JS)
    wrong = [f for f in formulas if f["wide"] != f["tab"] or (f["wide"] and (
        f["role"] != "region" or not re.fullmatch(r"Formula (\(\d+\.\d+\)|\d+), scrolls sideways",
                                                  f["name"] or "")))]
    # each is a landmark: two of one name could not be told apart
    names = [f["name"] for f in formulas if f["wide"]]
    return wrong + [f for f in formulas if f["wide"] and names.count(f["name"]) > 1]


def test_a_wide_formula_scrolls_with_the_keyboard(site, browser):
    """Chapter 1 on a phone: Tab reaches its wide formula, and the arrow key scrolls it; on a
    desktop, where it fits, it is no tab stop (a11y.js follows the window's size)."""
    page, _ = open_page(browser, page_url(site, "book/01_mlp"), viewport=PHONE)
    try:
        wait_for_mathjax(page)
        assert not wide_formulas_out_of_reach(page)
        formula = page.locator('article mjx-container[role="region"]').first
        assert formula.count() == 1, "no formula scrolls on chapter 1 at 390 px"
        formula.focus()
        assert page.evaluate("() => document.activeElement.getAttribute('role')") == "region"
        assert formula.evaluate("m => m.scrollLeft") == 0
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("(m) => m.scrollLeft > 0", arg=formula.element_handle(),
                               timeout=3000)
        page.set_viewport_size(DESKTOP)
        page.wait_for_function("() => !document.querySelector('article mjx-container[role=region]')"
                               " || Array.from(document.querySelectorAll('article mjx-container"
                               "[role=region]')).every(m => m.scrollWidth > m.clientWidth + 1)",
                               timeout=5000)
        assert not wide_formulas_out_of_reach(page)
    finally:
        page.close()


@pytest.mark.parametrize("doc, corner", [("book/02_what_is_a_cnn", "property"),
                                         ("book/07_pooling", "pooling"),
                                         ("book/07b_one_by_one", "variant")])
def test_comparison_tables_name_their_rows(site, browser, doc, corner):
    """The comparison tables of chapters 2, 8 and 9 had an empty corner cell and no row
    headers (axe empty-table-header): a screen reader read each value without its row's name.
    The corner says what the rows are; the first cell of each row is a row header."""
    page, _ = open_page(browser, page_url(site, doc))
    try:
        tables = page.evaluate("""() => Array.from(document.querySelectorAll('article table'))
            .filter(t => t.querySelector('thead th'))
            .map(t => ({corner: t.querySelector('thead th').textContent.trim(),
                        rows: Array.from(t.querySelectorAll('tbody tr')).map(r => {
                            const c = r.cells[0];
                            return c.tagName + ':' + (c.getAttribute('scope') || '');})}))""")
        empty = page.evaluate("() => Array.from(document.querySelectorAll('article th'))"
                              ".filter(th => !th.textContent.trim()).length")
        assert empty == 0, f"{doc}: {empty} empty header cells"
        mine = [t for t in tables if t["corner"] == corner]
        assert mine, f"{doc}: no table whose corner cell says {corner!r}: {tables}"
        assert all(r == "TH:row" for t in mine for r in t["rows"]), mine
    finally:
        page.close()


def _contrast(rgb1, rgb2):
    def lum(c):
        c = [v / 255 for v in c]
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(rgb1), lum(rgb2)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css):
    """(r, g, b) of a computed CSS colour "rgb(...)"/"rgba(...)"; None if transparent."""
    v = [float(x) for x in re.findall(r"[\d.]+", css)]
    return None if len(v) == 4 and v[3] == 0 else tuple(v[:3])


def test_search_highlights_read_in_dark_mode(site, browser):
    """The words a search highlights in its results were 2.06:1 on their highlight in dark
    mode (the theme's colours); book.css makes them 4.5:1 or more."""
    page, _ = open_page(browser, urljoin(site, "search.html?q=padding"))
    try:
        page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
        page.locator("#search-results span.highlighted").first.wait_for(timeout=20000)
        pairs = page.evaluate("""() => Array.from(document.querySelectorAll(
                '#search-results span.highlighted')).slice(0, 5).map(s => {
            let e = s, bg = 'rgba(0, 0, 0, 0)';
            while (e && /rgba\\(.*, 0\\)$|transparent/.test(bg)) {
                bg = getComputedStyle(e).backgroundColor; e = e.parentElement; }
            return [getComputedStyle(s).color, bg]; })""")
        assert pairs
        for fg, bg in pairs:
            ratio = _contrast(_rgb(fg), _rgb(bg))
            assert ratio >= 4.5, f"highlighted search word {fg} on {bg}: {ratio:.2f}:1"
    finally:
        page.close()


# Landmarks of a page as a screen reader lists them: (role, name)
LANDMARKS_JS = """() => {
    const implicit = {NAV: 'navigation', ASIDE: 'complementary', MAIN: 'main',
                      FORM: 'form', SECTION: 'region'};
    const out = [];
    for (const e of document.querySelectorAll('[role], nav, aside, main, form, section')) {
        if (e.closest('[hidden], dialog:not([open])')) continue;
        const role = e.getAttribute('role') || implicit[e.tagName];
        const name = (e.getAttribute('aria-label') || (e.getAttribute('aria-labelledby')
            && document.getElementById(e.getAttribute('aria-labelledby'))?.textContent) || '').trim();
        // a form or a section is a landmark only when it is named
        if (['form', 'region'].includes(role) && !name) continue;
        if (!['navigation', 'complementary', 'main', 'form', 'region', 'banner',
              'contentinfo', 'search'].includes(role)) continue;
        out.push(role + ': ' + name);
    }
    return out; }"""


def test_the_players_forms_are_distinct_landmarks(site, browser):
    """Chapter 5 has three players, and each had Matplotlib's form named "Repetition mode":
    three landmarks of one name (axe landmark-unique). Each form's name says which player it
    belongs to, and its radio buttons still set the player's mode."""
    page, _ = open_page(browser, page_url(site, "book/05_hyperparameters"))
    try:
        forms = page.locator("div.animation form.anim-state")
        assert forms.count() >= 3
        names = [f.get_attribute("aria-label") for f in forms.all()]
        assert all(re.fullmatch(r"Repetition mode \(\d+×\d+ input, \d+×\d+ kernel, stride \d+, "
                                r"padding \d+\)", n) for n in names), names
        assert len(set(names)) == len(names), names
        landmarks = page.evaluate(LANDMARKS_JS)
        dup = {m for m in landmarks if landmarks.count(m) > 1}
        assert not dup, f"landmarks of the same role and name: {dup}"
        form = forms.nth(1)
        form.locator("input[value=loop]").check()
        key = form.get_attribute("name").removeprefix("_anim_loop_select")
        assert page.evaluate(f"() => anim{key}.get_loop_state()") == "loop"
    finally:
        page.close()


def test_the_chapter_sidebar_is_a_landmark(site, browser):
    """The sidebar with the book's title sat in no landmark (axe region): it is the
    complementary landmark "Chapters" (theme_fixes.js), and no landmark's name repeats."""
    page, _ = open_page(browser, page_url(site, "book/03_why_it_works"))
    try:
        sidebar = page.locator(".bd-sidebar-primary")
        assert sidebar.get_attribute("role") == "complementary"
        assert sidebar.get_attribute("aria-label") == "Chapters"
        assert page.evaluate("() => !!document.querySelector('.navbar-brand.logo')"
                             ".closest('[role=complementary]')")
        landmarks = page.evaluate(LANDMARKS_JS)
        assert "complementary: Chapters" in landmarks, landmarks
        dup = {m for m in landmarks if landmarks.count(m) > 1}
        assert not dup, f"landmarks of the same role and name: {dup}"
    finally:
        page.close()


@pytest.mark.parametrize("doc", [p for p in PAGES if re.match(r"book/\d", p)])
def test_no_link_is_named_by_a_number_alone(site, browser, doc):
    """'chapter {doc}`4 <...>`' made links named "4" (22 in the book): a screen reader's list
    of links said "4", "7", "11". The word is inside the link."""
    page, _ = open_page(browser, page_url(site, doc))
    try:
        bare = page.evaluate("""() => Array.from(document.querySelectorAll('article a[href]'))
            .filter(a => !a.closest('.footnote-reference, .footnote, .fn-backref')
                         && !a.classList.contains('footnote-reference'))
            .map(a => a.textContent.trim()).filter(t => /^\\d+$/.test(t))""")
        assert not bare, f"{doc}: links named only by a number: {bare}"
    finally:
        page.close()


def test_the_player_is_brief_while_it_plays(site, browser):
    """While the convolution player plays (one frame a second), the live line and the slider
    say only "Frame k of n"; the whole sentence (where the window is, the output) comes on a
    pause, a single step and the last frame: a screen reader fell behind 25 words a second."""
    page, _ = open_page(browser, page_url(site, "book/04_convolution"))
    try:
        player = page.locator("div[role=group]:has(div.animation)").first
        slider = player.locator("input.anim-slider")
        line = player.locator("[aria-live=polite]")
        n = int(slider.get_attribute("max")) + 1
        page.wait_for_function("(s) => (s.getAttribute('aria-valuetext') || '')"
                               ".startsWith('Frame 1 ')", arg=slider.element_handle())
        player.locator('button[title="Play"]').click()
        page.wait_for_function("(s) => s.value === '1'", arg=slider.element_handle(), timeout=5000)
        assert slider.get_attribute("aria-valuetext") == f"Frame 2 of {n}"
        assert line.text_content() == f"Frame 2 of {n}"
        player.locator('button[title="Pause"]').click()
        k = int(slider.input_value())
        full = re.compile(rf"Frame {k + 1} of {n}: the window covers .*")
        assert full.fullmatch(slider.get_attribute("aria-valuetext"))
        assert full.fullmatch(line.text_content())
        player.locator('button[title="Next frame"]').click()
        assert slider.get_attribute("aria-valuetext").startswith(f"Frame {k + 2} of {n}: ")
        player.locator('button[title="Last frame"]').click()
        assert slider.get_attribute("aria-valuetext").startswith(f"Frame {n} of {n}: ")
    finally:
        page.close()


def test_the_front_page_has_a_title_a_language_and_a_link(site, browser):
    """_build/html/index.html was a one-line meta refresh (no title, no language, nothing to
    follow without the refresh); book/_ext/accessible_html.py writes a small page that has
    them, and it still sends the reader to the introduction."""
    text = (HTML / "index.html").read_text()
    assert re.search(r'<html lang="en">', text), text[:300]
    assert re.search(r"<title>[^<]*Convolutional Neural Networks[^<]*</title>", text), text[:300]
    assert re.search(r'<a href="book/intro.html">', text), text
    page, _ = open_page(browser, site)
    try:
        page.wait_for_url(page_url(site, "book/intro"), timeout=5000)
    finally:
        page.close()
