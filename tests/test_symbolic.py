"""The derived nico adjoints are the seed post's published equations, symbol for symbol."""
import sympy as sp

from derive.catalog import builtin_spec
from derive.pipeline import derive_cell

S = sp.Symbol


def test_nico_adjoints_are_the_published_equations():
    derivation = derive_cell(builtin_spec("nico"))
    # The code holds 1 - i as i_complement (computed as sigmoid(-z), without cancellation): read it as 1 - i.
    complements = {S(f"{v}_complement"): 1 - S(v) for v in ("i", "f", "o")}
    derived = {line.target.name: line.expr.xreplace(complements) for line in derivation.lines}
    o, s, g, i, f, s_prev = (S(n) for n in ("o", "s", "g", "i", "f", "s_prev"))
    d_h, d_s, d_o, d_i, d_g, d_f = (S(n) for n in ("d_h", "d_s", "d_o", "d_i", "d_g", "d_f"))
    published = {
        "d_s": o * d_h + S("d_s_in"),  # ds = o*dh + ds_next (the carry from step t+1)
        "d_o": s * d_h,
        "d_i": g * d_s,
        "d_g": i * d_s,
        "d_f": s_prev * d_s,
        "d_i_pre": i * (1 - i) * d_i,
        "d_f_pre": f * (1 - f) * d_f,
        "d_o_pre": o * (1 - o) * d_o,
        "d_g_pre": (1 - g**2) * d_g,
        "d_s_prev": d_s * f,  # the carry to step t-1
    }
    for name, expected in published.items():
        assert sp.expand(derived[name] - expected) == 0, f"{name}: derived {derived[name]}, published {expected}"


def test_incoming_state_adjoint_is_the_next_steps_carry():
    """dL/ds(t) = dL/dh(t) o(t) + dL/ds(t+1) f(t+1): the LaTeX spells out the recursion."""
    from derive.notation import NEXT, incoming_meaning

    derivation = derive_cell(builtin_spec("nico"))
    assert incoming_meaning(derivation, "s") == S("d_s" + NEXT) * S("f" + NEXT)


def test_lstm_cell_state_adjoint():
    """dc = dc_next + dh o (1 - tanh(c)^2), as the second seed derives it."""
    from derive.functions import Tanh

    derivation = derive_cell(builtin_spec("lstm"))
    d_c = next(line.expr for line in derivation.lines if line.target.name == "d_c")
    d_c = d_c.xreplace({S("h_tanh"): Tanh(S("c"))})  # tanh(c) is computed once, in the forward pass, as h_tanh
    expected = S("d_c_in") + S("d_h") * S("o") * (1 - Tanh(S("c")) ** 2)
    assert sp.expand(d_c - expected) == 0
