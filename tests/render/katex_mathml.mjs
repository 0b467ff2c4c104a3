// KaTeX's own MathML for TeX formulas: the independent reading that tests/test_offline_page.py holds
// derive/mathml.py to (the same symbols in the same order, the same fractions, roots and scripts).
//
// stdin:  a JSON array of {"tex": "<latex>", "display": true|false}
// stdout: a JSON array of MathML strings, one per formula, in order.
import katex from 'katex';
import {readStdin} from './stdin.mjs';

const formulas = JSON.parse(await readStdin());
const out = formulas.map(({tex, display}) =>
  katex.renderToString(tex, {output: 'mathml', displayMode: display, throwOnError: true, strict: 'ignore'}));
process.stdout.write(JSON.stringify(out));
