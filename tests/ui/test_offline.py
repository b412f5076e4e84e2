"""The dashboard asks nothing of the internet: a classroom network without it gets the same page.

Every request the page makes goes to the Voilà server, the buttons' icons draw from the server's own
copy of Font Awesome, and neither the page nor the server's terminal shows TensorFlow's start-up
lines. The project's template also keeps Voilà's loading screen still: its turning logo and shining
placeholders drew a new frame 60 times a second in every page for as long as the page loaded, on the
cores a class's browsers share.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from helpers import TF_NOISE

#: The "random" button of the image picker; ipywidgets draws a button's icon as <i class="fa fa-…">.
RANDOM_ICON = ".cnnviz-section-picker button i.fa-random"
#: Font Awesome's code point for the "random" icon (the same in versions 4 and 5).
RANDOM_GLYPH = "\uf074"


def server_of(url: str) -> str | None:
    """host:port a URL is fetched from; None for data: URLs, which need no network at all."""
    parts = urlsplit(url)
    if parts.scheme == "data":
        return None
    if parts.scheme == "blob":  # blob:http://host:port/<id> is made by the page itself
        parts = urlsplit(parts.path)
    return parts.netloc


#: True once the browser has a Font Awesome face loaded (it fetches a font when a glyph first needs it).
ICON_FONT_LOADED = ("() => Array.from(document.fonts)"
                    ".some(f => f.family.includes('Font Awesome') && f.status === 'loaded')")


def test_every_request_goes_to_the_voila_server(module_dashboard, voila_server, page_watch):
    module_dashboard.wait_for_function(ICON_FONT_LOADED, timeout=30_000)
    urls = page_watch.requests(module_dashboard)
    server = server_of(voila_server)
    assert server.startswith("127.0.0.1:")
    elsewhere = [url for url in urls if server_of(url) not in (server, None)]
    assert elsewhere == []
    # The check saw the whole page: the page itself, its scripts and styles, the icon font, the
    # kernel's websocket.
    assert urls[0] == voila_server
    paths = [urlsplit(url).path for url in urls]
    assert any(path.endswith(".js") for path in paths)
    assert any(path.endswith((".woff2", ".woff", ".ttf")) for path in paths)
    assert any(url.startswith(f"ws://{server}/api/kernels/") for url in urls)


def test_button_icons_draw_from_the_servers_font_awesome(module_dashboard):
    icon = module_dashboard.locator(RANDOM_ICON)
    info = icon.evaluate("""el => {
        const box = el.getBoundingClientRect();
        const faces = Array.from(document.fonts).filter(f => f.family.includes('Font Awesome'));
        return {family: getComputedStyle(el).fontFamily, glyph: getComputedStyle(el, '::before').content,
                width: box.width, height: box.height,
                loaded: faces.filter(f => f.status === 'loaded').map(f => f.family + ' ' + f.weight)};
    }""")
    assert "Font Awesome" in info["family"], info
    assert info["glyph"] == f'"{RANDOM_GLYPH}"', info
    assert info["width"] > 0 and info["height"] > 0, info
    # The font the glyph needs has arrived: the solid (900) face that the fa-* classes use.
    assert "Font Awesome 5 Free 900" in info["loaded"], info


def test_no_tensorflow_start_up_lines_on_the_page_or_in_the_servers_terminal(module_dashboard, voila_log):
    assert not TF_NOISE.search(module_dashboard.inner_text("body"))
    log = voila_log.read_text()
    # The log is this server's, and a kernel has run the dashboard (so TensorFlow started).
    assert "Kernel started" in log
    assert not TF_NOISE.search(log), log


def test_the_loading_screen_stands_still(module_dashboard):
    keyframes = module_dashboard.evaluate("""() => {
        const names = new Set();
        for (const sheet of document.styleSheets) {
            let rules;
            try { rules = sheet.cssRules; } catch (e) { continue; }
            for (const rule of rules) { if (rule.type === CSSRule.KEYFRAMES_RULE) names.add(rule.name); }
        }
        return Array.from(names);
    }""")
    # The page holds the keyframes of the loading screen's animations (Voilà's base template,
    # spinner.macro.html.j2: the logo turns, the placeholders shine) ...
    assert {"rotation", "shine-avatar", "shine-lines"} <= set(keyframes), keyframes
    # ... but a loading screen made as Voilà makes it (gone from the page once it has loaded) runs none.
    names = module_dashboard.evaluate("""() => {
        const screen = document.createElement('div');
        screen.className = 'cnnviz-test-loading';
        screen.innerHTML = '<svg class="spinner" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>' +
            '<div class="voila-skeleton-post"><div class="voila-skeleton-avatar"></div>' +
            '<div class="voila-skeleton-line"></div></div>';
        document.body.appendChild(screen);
        const names = Array.from(screen.querySelectorAll('.spinner, .voila-skeleton-post > div'))
            .map(e => getComputedStyle(e).animationName);
        const running = document.getAnimations().filter(a => a.playState === 'running').length;
        screen.remove();
        return {names, running};
    }""")
    assert names == {"names": ["none", "none", "none"], "running": 0}
