// Renders TeX formulas with KaTeX and with MathJax 3 and reports every one that either rejects.
//
// stdin:  a JSON array of {"where": "<file>:<line>", "tex": "<latex>", "display": true|false}
// stdout: {"failures": [{"where", "renderer": "katex"|"mathjax", "message", "tex"}], "count": <formulas checked>}
// exit:   0 when nothing failed, 1 when something did, 2 when the input itself is unusable.
//
// Both renderers are set up once and then reused, so thousands of formulas take seconds.
// tests/test_renderers.py drives this; the versions are pinned by package-lock.json beside it.

import katex from 'katex';
import {mathjax} from 'mathjax-full/js/mathjax.js';
import {TeX} from 'mathjax-full/js/input/tex.js';
import {SVG} from 'mathjax-full/js/output/svg.js';
import {liteAdaptor} from 'mathjax-full/js/adaptors/liteAdaptor.js';
import {RegisterHTMLHandler} from 'mathjax-full/js/handlers/html.js';
import {readStdin} from './stdin.mjs';

// Importing a package's configuration registers it with the TeX input jax; the names go in PACKAGES.
import 'mathjax-full/js/input/tex/base/BaseConfiguration.js';
import 'mathjax-full/js/input/tex/ams/AmsConfiguration.js';
import 'mathjax-full/js/input/tex/newcommand/NewcommandConfiguration.js';
import 'mathjax-full/js/input/tex/configmacros/ConfigMacrosConfiguration.js';
import 'mathjax-full/js/input/tex/action/ActionConfiguration.js';
import 'mathjax-full/js/input/tex/amscd/AmsCdConfiguration.js';
import 'mathjax-full/js/input/tex/bbox/BboxConfiguration.js';
import 'mathjax-full/js/input/tex/boldsymbol/BoldsymbolConfiguration.js';
import 'mathjax-full/js/input/tex/braket/BraketConfiguration.js';
import 'mathjax-full/js/input/tex/bussproofs/BussproofsConfiguration.js';
import 'mathjax-full/js/input/tex/cancel/CancelConfiguration.js';
import 'mathjax-full/js/input/tex/color/ColorConfiguration.js';
import 'mathjax-full/js/input/tex/enclose/EncloseConfiguration.js';
import 'mathjax-full/js/input/tex/extpfeil/ExtpfeilConfiguration.js';
import 'mathjax-full/js/input/tex/html/HtmlConfiguration.js';
import 'mathjax-full/js/input/tex/mhchem/MhchemConfiguration.js';
import 'mathjax-full/js/input/tex/unicode/UnicodeConfiguration.js';
import 'mathjax-full/js/input/tex/verb/VerbConfiguration.js';

// What a page using MathJax's stock tex-chtml/tex-svg component can typeset: that component loads
// base, ams, newcommand, configmacros (plus require/autoload, which only load the packages below on first
// use, and noundefined), and its autoload table makes the remaining packages here available on demand.
// noundefined is deliberately left out: it typesets an unknown macro as red text instead of failing,
// and an unknown macro is exactly what this check must catch.
const PACKAGES = [
  'base', 'ams', 'newcommand', 'configmacros',
  // the autoload table of mathjax-full 3.2.2 (js/input/tex/autoload/AutoloadConfiguration.js)
  'action', 'amscd', 'bbox', 'boldsymbol', 'braket', 'bussproofs', 'cancel', 'color',
  'enclose', 'extpfeil', 'html', 'mhchem', 'unicode', 'verb',
];

const KATEX_OPTIONS = {throwOnError: true, strict: 'error'};

function makeMathJax() {
  const adaptor = liteAdaptor();
  RegisterHTMLHandler(adaptor);
  const tex = new TeX({
    packages: PACKAGES,
    // By default a TeX error becomes an <merror> node in the output and conversion "succeeds";
    // rethrowing makes the error visible here with MathJax's own message.
    formatError: (_jax, err) => { throw err; },
  });
  // fontCache 'none': no shared glyph cache between formulas, so nothing accumulates over a long run.
  const svg = new SVG({fontCache: 'none'});
  const doc = mathjax.document('', {InputJax: tex, OutputJax: svg});
  return (texString, display) => {
    const node = doc.convert(texString, {display});
    // Belt and braces: some packages build <merror> themselves instead of raising a TeX error.
    // The SVG output tags each element with the MathML node it came from.
    const html = adaptor.outerHTML(node);
    if (html.includes('data-mml-node="merror"')) {
      const said = html.match(/data-mjx-error="([^"]*)"/);
      throw new Error(`output contains an merror node${said ? `: ${said[1]}` : ''}`);
    }
  };
}

// One readable line per failure. KaTeX's full message repeats the formula with U+0332 combining
// underlines marking the error, which garbles terminals; its rawMessage plus the offset says the same.
function describe(err) {
  if (err?.name === 'ParseError' && typeof err.rawMessage === 'string') {
    return err.position === undefined ? err.rawMessage : `${err.rawMessage} (at offset ${err.position})`;
  }
  return String(err?.message ?? err).split('\n')[0];
}

async function main() {
  let items;
  try {
    items = JSON.parse(await readStdin());
    if (!Array.isArray(items)) throw new Error('expected a JSON array');
  } catch (err) {
    process.stderr.write(`check_math: unusable input: ${err.message}\n`);
    process.exit(2);
  }

  const renderers = {
    katex: (tex, display) => { katex.renderToString(tex, {...KATEX_OPTIONS, displayMode: display}); },
    mathjax: makeMathJax(),
  };

  const failures = [];
  for (const {where = '?', tex, display = false} of items) {
    for (const [renderer, render] of Object.entries(renderers)) {
      try {
        if (typeof tex !== 'string') throw new Error('item has no "tex" string');
        render(tex, Boolean(display));
      } catch (err) {
        failures.push({where, renderer, message: describe(err), tex});
      }
    }
  }

  process.stdout.write(JSON.stringify({failures, count: items.length}) + '\n');
  process.exitCode = failures.length ? 1 : 0;
}

await main();
