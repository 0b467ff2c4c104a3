// Opens pages in headless Chromium and reports what a reader sees of their math:
//   node browser_math.mjs < request.json > report.json
// request: {"chromium": "/usr/bin/chromium", "pages": [{"url": ..., "screenshot": path}],
//           "routes": {"https://cdn.example/prefix/": "/local/folder/"}}   (no other network is let through)
// report: one entry per page: title, meta description, links, typeset formulas (MathJax or KaTeX),
//   error nodes, text nodes that still hold TeX delimiters, console errors, the requests refused, and for
//   MathML pages each formula's TeX, fractions not laid out, and in-page links that lead nowhere.
import { readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const request = JSON.parse(readFileSync(0, "utf8"));
const browser = await chromium.launch({
  executablePath: request.chromium,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-sync", "--metrics-recording-only", "--no-first-run"],
});
const blocked = [];  // every request the page made that was refused
const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
await context.route("**/*", async (route) => {
  const url = route.request().url();
  if (url.startsWith("http://127.0.0.1") || url.startsWith("http://localhost") || url.startsWith("file:")) {
    return route.continue();
  }
  for (const [prefix, folder] of Object.entries(request.routes || {})) {
    if (url.startsWith(prefix)) {
      return route.fulfill({ path: path.join(folder, url.slice(prefix.length).split("?")[0]) });
    }
  }
  blocked.push(url);
  return route.abort();  // offline: nothing else is reached
});

const report = [];
for (const entry of request.pages) {
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (message) => { if (message.type() === "error") consoleErrors.push(message.text()); });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(entry.url, { waitUntil: "load" });
  await page.evaluate(async () => {  // MathJax typesets after load; KaTeX auto-render on DOMContentLoaded
    for (let i = 0; i < 100 && !(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise); i++) {
      if (document.querySelector(".katex") || !document.querySelector("script[src*=mathjax], script[src*=katex]")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) await window.MathJax.startup.promise;
  });
  const found = await page.evaluate(() => {
    const texLeft = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (parent && parent.closest("script, style, code, pre, mjx-container, .katex, .katex-display, annotation")) continue;
      const text = node.textContent;
      if (/\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\frac|\\left|\\tag\{/.test(text)) texLeft.push(text.trim().slice(0, 120));
    }
    const meta = document.querySelector('meta[name="description"]');
    return {
      title: document.title,
      h1: (document.querySelector("h1") || {}).textContent || "",
      description: meta ? meta.getAttribute("content") : null,
      links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
      mathjax: document.querySelectorAll("mjx-container").length,
      katex: document.querySelectorAll(".katex").length,  // one per formula: a display's sits inside its .katex-display
      errors: document.querySelectorAll("mjx-merror, [data-mjx-error], .katex-error").length,
      texLeft,
      // MathML drawn by the browser itself (the offline page): each formula's TeX (its annotation), whether
      // it is a display, and the fractions whose numerator is not drawn above the denominator (a browser
      // without MathML layout runs them into one line)
      mathml: [...document.querySelectorAll("math")].map((m) => ({
        tex: (m.querySelector("annotation") || {}).textContent || "",
        display: m.getAttribute("display") === "block",
        width: m.getBoundingClientRect().width,
      })),
      mathmlErrors: document.querySelectorAll("merror").length,
      flatFractions: [...document.querySelectorAll("mfrac")].filter((f) => {
        const [top, bottom] = [...f.children].map((c) => c.getBoundingClientRect());
        return !(top && bottom && top.bottom <= bottom.top + 1);
      }).length,
      brokenAnchors: [...document.querySelectorAll('a[href^="#"]')].map((a) => a.getAttribute("href"))
        .filter((href) => !document.getElementById(href.slice(1))),
    };
  });
  if (entry.screenshot) await page.screenshot({ path: entry.screenshot, fullPage: true });
  report.push({ url: entry.url, consoleErrors, blocked: blocked.splice(0), ...found });
  await page.close();
}
await browser.close();
process.stdout.write(JSON.stringify(report));
