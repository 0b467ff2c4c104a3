"""The derivation step by step (derive/walkthrough.py), as the generated Markdown shows it.

The nico test holds the walkthrough to the "Simple LSTM" post's derivation and to its code
(nicodjimenez/lstm, lstm.py: `ds = o * top_diff_h + top_diff_s`, `do = s * top_diff_h`,
`di = g * ds`, `dg = i * ds`, `df = s_prev * ds`, `bottom_diff_s = ds * f`, the weight
gradients as outer products with xc), written here from the post, not from derive's output.
The structural tests hold every cell to the shape a reader relies on: prose before each group of
equations, every backward equation tagged once, in the order the code computes them.
"""
from __future__ import annotations

import re

import pytest

from derive.latex_read import display_equations

from derive.catalog import builtin_spec
from derive.pipeline import generate

SECTION = "## The derivation, step by step"


def beats(name: str) -> list[tuple[str, list[str]]]:
    """The walkthrough section of a cell's Markdown as (prose, [display equations]) pairs."""
    markdown = generate(builtin_spec(name))[f"{name}/{name}.md"]
    section = markdown.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: list[tuple[str, list[str]]] = []
    for block in re.split(r"\n\n+", section.strip()):
        if block.startswith("$$\n"):
            assert found, f"{name}: display math before any prose"
            found[-1][1].append(block.removeprefix("$$\n").removesuffix("\n$$"))
        else:
            found.append((block, []))
    return found


def test_nico_walkthrough_follows_the_simple_lstm_post():
    walk = beats("nico")
    prose = [text for text, _ in walk]
    # an aligned block's rows each as `left = right \tag{..}`
    math = [row for _, equations in walk for equation in equations
            for row in display_equations(f"$$\n{equation}\n$$\n", "md")]
    expected_in_order = [
        r"L(t) = l(t) + L(t+1)",
        r"\frac{dL}{dh(t)} = \frac{dl(t)}{dh(t)} + \left[\frac{dL}{dx_c(t+1)}\right]_{h(t)} \tag{B1}",
        r"\frac{dL}{ds(t)} = \frac{dL}{dh(t)} * \frac{dh(t)}{ds(t)} + \frac{dL}{ds(t+1)} * \frac{ds(t+1)}{ds(t)}",
        r"\frac{dh(t)}{ds(t)} = o(t)",
        r"\frac{ds(t+1)}{ds(t)} = f(t+1)",
        r"\frac{dL}{ds(t)} = \frac{dL}{dh(t)} * o(t) + \frac{dL}{ds(t+1)} * f(t+1) \tag{B2}",
        # then the gates in the forward pass's order, g, i, f, o
        r"\frac{dL}{dg(t)} = \frac{dL}{ds(t)} * i(t) \tag{B3}",
        r"\frac{dL}{d\hat{g}(t)} = \frac{dL}{dg(t)} * \left(1 - g(t)^{2}\right) \tag{B4}",
        r"\frac{dL}{di(t)} = \frac{dL}{ds(t)} * g(t) \tag{B5}",
        r"\frac{dL}{df(t)} = \frac{dL}{ds(t)} * s(t-1) \tag{B7}",
        r"\frac{dL}{do(t)} = \frac{dL}{dh(t)} * s(t) \tag{B9}",
        r"\frac{dL}{d\hat{o}(t)} = \frac{dL}{do(t)} * o(t) * \left(1 - o(t)\right) \tag{B10}",
        r"\frac{dL}{dx_c(t)} = W_{g}^{\top} \frac{dL}{d\hat{g}(t)} + W_{i}^{\top} \frac{dL}{d\hat{\imath}(t)} + "
        r"W_{f}^{\top} \frac{dL}{d\hat{f}(t)} + W_{o}^{\top} \frac{dL}{d\hat{o}(t)} \tag{B11}",  # the gates' order again
        r"\frac{dL(t)}{ds(t-1)} = \frac{dL}{ds(t)} * f(t) \tag{B12}",  # the part through step t, as the seed's bottom_diff_s
    ]
    positions = [math.index(equation) for equation in expected_in_order]
    assert positions == sorted(positions)
    # the sentences that say what each step does, quoting the forward equations the derivatives come from
    assert "$s(t)$ reaches the loss through $h(t)$ and $s(t+1)$, so by the chain rule:" in prose
    assert "$h(t)$ reaches the loss through $l(t)$ and $x_c(t+1)$:" in prose
    assert ("The local derivatives follow from $h(t) = s(t) * o(t)$ and "  # in the post's (and the spec's) order
            "$s(t+1) = g(t+1) * i(t+1) + s(t) * f(t+1)$:") in prose
    assert "Substituting them gives the recursion through time:" in prose
    assert ("$o(t)$ is used by $h(t) = s(t) * o(t)$, and $\\hat{o}(t)$ by "  # a gate after the first: one sentence
            "$o(t) = \\sigma\\left(\\hat{o}(t)\\right)$:") in prose


TAG = re.compile(r"\\tag\{B(\d+)\}|&& \\text\{\(B(\d+)\)\}")  # a display's tag, or a label in an aligned row


def tags_of(equation: str) -> list[int]:
    return [int(a or b) for a, b in TAG.findall(equation)]


def test_every_prose_beat_introduces_its_equations_and_every_tag_appears_once_in_order(cell):
    walk = beats(cell)
    tags = [tag for _, equations in walk for equation in equations for tag in tags_of(equation)]
    code = generate(builtin_spec(cell))[f"{cell}/{cell}.py"]
    in_code = {int(tag) for tag in re.findall(r"# \(B(\d+)\)", code)}
    assert tags == sorted(in_code), "each backward equation once, in the code's order"
    for text, equations in walk:
        assert text and not text.startswith("$$"), text
        assert text[-1] in ":." , f"prose should end a sentence or introduce math: {text!r}"
        assert (text[-1] == ":") == bool(equations), f"{text!r} introduces {len(equations)} equation(s)"


def test_the_chain_rule_is_worked_in_full_once_then_briefly(cell):
    """The first step through an element-wise use has three beats: the chain rule with the partial
    derivative unworked, the local derivative (with the forward equation it comes from), and the
    result, tagged. A step after that gets one sentence that quotes the equations using it, then its
    local derivatives and its tagged result (a gate and its pre-activation share the sentence), so no
    sentence is repeated per gate."""
    walk = beats(cell)
    chains = [index for index, (text, _) in enumerate(walk) if text.endswith("so by the chain rule:")]
    assert chains, "every cell has an activation, so at least one element-wise use"
    for index in chains:
        text, equations = walk[index]
        (chain,) = equations
        local_text, local_equations = walk[index + 1]
        result_text, (result,) = walk[index + 2]
        assert re.match(r"The local derivatives? follows? from \$.+\$:$", local_text), local_text
        assert local_equations and all("\\tag" not in eq for eq in local_equations + [chain])
        assert result_text.startswith("Substituting ") and "\\tag{B" in result
        assert chain.split(" = ")[0] == result.split(" = ")[0], "the chain rule and the result share a left side"
    assert len(chains) == 1, f"{cell}: the chain rule worked in full {len(chains)} times"
    for text, equations in walk[chains[0] + 3:]:
        if equations and not tags_of(equations[0]):  # a brief step: local derivatives, each before its result
            assert re.search(r"(is used by|comes? from) \$", text), f"a brief step quotes the equations: {text!r}"
            assert tags_of(equations[-1]), f"a brief step ends on its result: {equations}"
    prose = [re.sub(r"\$[^$]*\$", "$", text) for text, _ in walk]
    repeated = {text for text in prose if prose.count(text) > 2 and not re.match(r"\$ (is used by|reaches the loss)", text)}
    assert not repeated, f"{cell}: sentences repeated per gate: {repeated}"


@pytest.mark.parametrize("name", ["gru", "lstm_peephole"])
def test_no_made_up_name_reaches_the_reader(name):
    """Variables the spec never names (the product r*h(t-1), tanh's pre-activation) print as what they are."""
    markdown = generate(builtin_spec(name))[f"{name}/{name}.md"]
    markdown = re.sub(r"```python\n.*?```", "", markdown, flags=re.S)  # the listing of backward() is code: its names are
    # (the notation note names one pre-activation's code name on purpose, as \mathtt{f\_pre})
    assert not re.search(r"(?<!\\)_\{?(tanh|pre|arg|complement)\b", markdown)
    assert "\\tanh\\left(\\left(" not in markdown, "a function's argument in parentheses twice"

