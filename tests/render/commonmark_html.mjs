// Renders Markdown documents with commonmark.js and prints their HTML.
//
// stdin:  a JSON array of Markdown strings
// stdout: a JSON array of the HTML commonmark.js writes for each (raw HTML passed through, as a site's
//         default CommonMark renderer does, so that the tests see any raw HTML a document carries).
// tests/test_outside_strings.py drives this; commonmark's version is pinned by package-lock.json beside it.

import {HtmlRenderer, Parser} from 'commonmark';
import {readStdin} from './stdin.mjs';

const documents = JSON.parse(await readStdin());
const parser = new Parser();
const renderer = new HtmlRenderer({safe: false});
process.stdout.write(JSON.stringify(documents.map((markdown) => renderer.render(parser.parse(markdown)))));
