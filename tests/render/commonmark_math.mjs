// Renders Markdown with commonmark.js and reports the math a browser-side MathJax/KaTeX would find in the HTML.
//
// stdin:  a JSON array of {"where": "<name>", "markdown": "<document>"}  (many documents: node starts once)
// stdout: {"documents": [{"where", "math": [{"tex", "display"}]}], "count": <documents>}
// exit:   0 on success, 2 when the input itself is unusable.
//
// What "found in the HTML" means here is what MathJax 3's page scanner does: it reads the page's text one run
// at a time, a run ending at every element boundary except <br> (read as a newline) and comments (read as
// nothing); it skips <code>, <pre>, <script>, <style> and the like; within a run it looks for $$...$$
// (display) and $...$ (inline), a backslash taking the next character with it (so \$ is no delimiter).
// Entities are decoded first, as the browser does when it builds the text nodes. Display math is reported as
// written between the delimiters, so a block written as "$$\n...\n$$" keeps its first and last newline.
// tests/test_flavors.py drives this; commonmark's version is pinned by package-lock.json beside it.

import {HtmlRenderer, Parser} from 'commonmark';
import {readStdin} from './stdin.mjs';

const SKIPPED = new Set(['script', 'noscript', 'style', 'textarea', 'pre', 'code']);  // MathJax's skipHtmlTags
const NAMED = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0'};

// commonmark.js writes text through its escapeXml (&amp; &lt; &gt; &quot;), but decode numeric references and
// the common names too, so that a change of HTML writer cannot slip anything past the comparison.
function decodeEntities(text) {
  return text.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);/g, (whole, body) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return String.fromCodePoint(code);
    }
    if (!(body in NAMED)) throw new Error(`unexpected entity ${whole} in the HTML`);
    return NAMED[body];
  });
}

// The text runs of an HTML fragment, in document order, as MathJax reads them.
function textRuns(html) {
  const runs = [];
  let run = '';
  const skipping = [];  // open skipped elements
  const push = () => { if (run) runs.push(run); run = ''; };
  for (const part of html.split(/(<!--[\s\S]*?-->|<[^>]*>)/)) {
    if (part.startsWith('<!--')) continue;  // MathJax reads a comment as nothing, without ending the run
    const tag = part.match(/^<(\/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(\/?)>$/);
    if (!tag) {
      if (part.startsWith('<')) throw new Error(`cannot read the tag ${JSON.stringify(part)}`);
      if (!skipping.length) run += decodeEntities(part);
      continue;
    }
    const [, closing, rawName, selfClosing] = tag;
    const name = rawName.toLowerCase();
    if (name === 'br') {
      if (!skipping.length) run += '\n';
      continue;
    }
    push();
    if (SKIPPED.has(name) && !selfClosing) {
      if (closing) skipping.pop(); else skipping.push(name);
    }
  }
  push();
  return runs;
}

// The math of one text run: $$...$$ tried before $...$; a backslash escapes the next character.
function mathIn(run) {
  const found = [];
  let i = 0;
  while (i < run.length) {
    if (run[i] === '\\') { i += 2; continue; }
    if (run[i] !== '$') { i += 1; continue; }
    const display = run[i + 1] === '$';
    const open = display ? 2 : 1;
    let j = i + open;
    let closed = -1;
    while (j < run.length) {
      if (run[j] === '\\') { j += 2; continue; }
      if (run.startsWith(display ? '$$' : '$', j)) { closed = j; break; }
      j += 1;
    }
    if (closed < 0) { i += open; continue; }  // no closing delimiter: plain dollars
    found.push({tex: run.slice(i + open, closed), display});
    i = closed + open;
  }
  return found;
}

async function main() {
  let items;
  try {
    items = JSON.parse(await readStdin());
    if (!Array.isArray(items) || !items.every((item) => typeof item?.markdown === 'string')) {
      throw new Error('expected a JSON array of {"where", "markdown"}');
    }
  } catch (err) {
    process.stderr.write(`commonmark_math: unusable input: ${err.message}\n`);
    process.exit(2);
  }
  const parser = new Parser();
  const renderer = new HtmlRenderer();
  const documents = items.map(({where = '?', markdown}) => {
    const html = renderer.render(parser.parse(markdown));
    return {where, math: textRuns(html).flatMap(mathIn)};
  });
  process.stdout.write(JSON.stringify({documents, count: documents.length}) + '\n');
}

await main();
