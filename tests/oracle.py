"""Independent autodiff oracle for derive's generated backward passes.

This module deliberately shares no code with the ``derive`` package: it reads a
cell spec (TOML) itself, parses each equation's right-hand side with Python's
``ast`` module, and evaluates it by walking the tree with ``autograd.numpy``.
Gradients come from HIPS autograd applied to a scalar loss, so they are an
independent reference for the generated NumPy backward passes.

Data layout (batched, row-major): x is (B, D), every state is (B, H) (unless
the spec writes ``"name: SIZE"``), so the column-vector expression ``W @ v`` is
computed as ``v @ W.T`` and
``concat(a, b, ...)`` stacks along axis 1.  Vector params broadcast over the
batch.  Nothing here calls ``eval`` or ``exec``.
"""

from __future__ import annotations

import ast
import tomllib

import autograd.numpy as anp
import numpy as np
from autograd import grad

__all__ = [
    "load_spec",
    "param_shapes",
    "evaluate_sequence",
    "oracle_gradients",
    "random_problem",
]


# --------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------

def load_spec(spec_path) -> dict:
    """Read a cell spec and parse its equations.

    Returns a dict with keys ``name``, ``inputs`` (list of names),
    ``states`` (list), ``output``, ``params`` (name -> list of shape strings,
    in file order), ``equations`` (list of ``(lhs, ast.expr)`` in order),
    ``vector_size`` (input or state name -> the size's letter: D for an input,
    H for a state unless written ``"name: SIZE"``), ``new_sizes`` (letters the
    ``sizes`` list declares) and ``equal`` (letter -> the letter it equals).
    """
    with open(spec_path, "rb") as fh:
        raw = tomllib.load(fh)

    new_sizes, equal = [], {}
    for item in raw.get("sizes", []):
        left, sep, right = (part.strip() for part in item.partition("="))
        if sep:
            equal[left] = right
        else:
            new_sizes.append(left)
    vector_size = {}
    for key, default in (("inputs", "D"), ("states", "H")):
        for entry in raw[key]:
            name, _, size = (part.strip() for part in entry.partition(":"))
            vector_size[name] = size or default
    inputs = [entry.partition(":")[0].strip() for entry in raw["inputs"]]
    states = [entry.partition(":")[0].strip() for entry in raw["states"]]
    output = raw["output"]
    if output not in states:
        raise ValueError(f"output {output!r} is not one of the states {states!r}")
    params = dict(raw["params"])

    reserved = set(params) | set(inputs)
    equations = []
    for lineno, line in enumerate(raw["equations"].splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        lhs, sep, rhs = text.partition("=")
        lhs = lhs.strip()
        if not sep or not lhs.isidentifier():
            raise ValueError(f"equation line {lineno}: cannot parse {text!r}")
        if lhs in reserved:
            raise ValueError(f"equation line {lineno}: cannot assign to {lhs!r}")
        tree = ast.parse(rhs.strip(), mode="eval")
        equations.append((lhs, tree.body))

    assigned = {lhs for lhs, _ in equations}
    missing = [s for s in states if s not in assigned]
    if missing:
        raise ValueError(f"states never assigned by the equations: {missing!r}")

    return {
        "name": raw.get("name"),
        "inputs": inputs,
        "states": states,
        "vector_size": vector_size,
        "new_sizes": new_sizes,
        "equal": equal,
        "output": output,
        "params": params,
        "equations": equations,
    }


def _size_expr(text: str, sizes: dict) -> int:
    """Evaluate a shape string like ``"D + H"`` with a tiny integer evaluator."""

    def walk(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in sizes:
                raise ValueError(f"unknown size {node.id!r} in shape {text!r}")
            return sizes[node.id]
        if isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.FloorDiv):
                return a // b
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"unsupported shape expression {text!r}")

    value = walk(ast.parse(str(text).strip(), mode="eval").body)
    if value <= 0:
        raise ValueError(f"shape {text!r} evaluates to {value}")
    return value


def param_shapes(spec_path, D: int, H: int, sizes=None) -> dict:
    """Map each param name to its concrete shape tuple for sizes D and H (and
    the declared sizes: see size_values)."""
    spec = load_spec(spec_path)
    return _param_shapes(spec, size_values(spec, D, H, sizes))


def size_values(spec, D, H, given=None) -> dict:
    """Every size letter's value: D and H as given, a declared size from
    ``given`` or else H + 1, H + 2, ... (distinct, so that a mix-up shows), and
    a size declared equal to another takes that one's value."""
    values = {"D": D, "H": H}
    for index, name in enumerate(spec["new_sizes"]):
        values[name] = (given or {}).get(name, H + 1 + index)
    for left, right in spec["equal"].items():
        values[left] = values[right]
    return values


def _param_shapes(spec, sizes):
    return {  # a scalar parameter ([]) is one number kept as shape (1,), as derive's README states
        name: tuple(_size_expr(s, sizes) for s in shape) if shape else (1,)
        for name, shape in spec["params"].items()
    }


# --------------------------------------------------------------------------
# Expression evaluation
# --------------------------------------------------------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + anp.exp(-z))


_FUNCTIONS = {
    "sigmoid": _sigmoid,
    "tanh": anp.tanh,
    "identity": lambda z: z,
    "exp": anp.exp,
    "relu": lambda z: anp.maximum(z, 0.0),
    "sqrt": anp.sqrt,
    "log": anp.log,
    "softplus": lambda z: anp.logaddexp(0.0, z),
    "abs": anp.abs,
    "maximum": anp.maximum,
    "minimum": anp.minimum,
    # reductions over a vector's units: one number per example, kept as a (B, 1) column so it broadcasts
    "mean": lambda v: anp.mean(v, axis=1, keepdims=True),
    "sum": lambda v: anp.sum(v, axis=1, keepdims=True),
}
_ARITY = {"maximum": 2, "minimum": 2}  # every other function takes one argument


def _is_t_minus_1(node) -> bool:
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Sub)
        and isinstance(node.left, ast.Name)
        and node.left.id == "t"
        and isinstance(node.right, ast.Constant)
        and node.right.value == 1
        and not isinstance(node.right.value, bool)
    )


def _eval(node, env, prev, params):
    """Walk one expression tree.

    env: values available by bare name (input, params, earlier equations).
    prev: state values at t-1.  params: used to check ``@`` operands.
    """
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(f"unsupported constant {node.value!r}")
        return float(node.value)

    if isinstance(node, ast.Name):
        if node.id not in env:
            raise NameError(f"name {node.id!r} is not defined at this point")
        return env[node.id]

    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env, prev, params)
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return v
        raise ValueError(f"unsupported unary operator {type(node.op).__name__}")

    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.MatMult):
            if not (isinstance(node.left, ast.Name) and node.left.id in params):
                raise ValueError("left operand of @ must be a matrix parameter")
            W = env[node.left.id]
            if anp.ndim(W) != 2:
                raise ValueError(f"left operand of @ ({node.left.id}) is not a matrix")
            v = _eval(node.right, env, prev, params)
            # column-vector W @ v  ==  row-major v @ W.T
            return anp.dot(v, anp.transpose(W))
        a = _eval(node.left, env, prev, params)
        b = _eval(node.right, env, prev, params)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            return a / b
        if isinstance(node.op, ast.Pow):
            if not (isinstance(node.right, ast.Constant) and type(node.right.value) is int):
                raise ValueError("the exponent of ** must be an integer literal")
            return a ** node.right.value
        raise ValueError(f"unsupported binary operator {type(node.op).__name__}")

    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise ValueError("unsupported call form")
        fname = node.func.id
        if fname in prev:  # state(t-1)
            if len(node.args) != 1 or not _is_t_minus_1(node.args[0]):
                raise ValueError(f"state reference must be written {fname}(t-1)")
            return prev[fname]
        if fname == "concat":
            if not node.args:
                raise ValueError("concat needs at least one argument")
            parts = [_eval(a, env, prev, params) for a in node.args]
            return anp.concatenate(parts, axis=1)
        if fname == "block":  # block(v, i, n): the i-th of n equal column blocks of v, i from 0
            v = _eval(node.args[0], env, prev, params)
            index, count = (int(arg.value) for arg in node.args[1:])
            width = v.shape[1] // count
            return v[:, index * width:(index + 1) * width]
        if fname in _FUNCTIONS:
            if len(node.args) != _ARITY.get(fname, 1):
                raise ValueError(f"{fname} takes {_ARITY.get(fname, 1)} argument(s)")
            return _FUNCTIONS[fname](*(_eval(a, env, prev, params) for a in node.args))
        raise ValueError(f"unknown function {fname!r}")

    raise ValueError(f"unsupported syntax: {type(node).__name__}")


def _step(spec, params, x, prev):
    """One time step (x: an array, or a dict by input name for several
    inputs). Returns the dict of new state values."""
    env = dict(params)
    env.update(x if len(spec["inputs"]) > 1 else {spec["inputs"][0]: x})
    for lhs, expr in spec["equations"]:
        env[lhs] = _eval(expr, env, prev, params)
    return {s: env[s] for s in spec["states"]}


def _run(spec, params, xs, state0):
    prev = {s: state0[s] for s in spec["states"]}
    outs = []
    several = len(spec["inputs"]) > 1  # xs is then a dict (under autograd, a box of one: no isinstance)
    steps = len(xs[spec["inputs"][0]]) if several else len(xs)
    for t in range(steps):
        at_t = {k: xs[k][t] for k in spec["inputs"]} if several else xs[t]
        prev = _step(spec, params, at_t, prev)
        outs.append(prev[spec["output"]])
    return anp.stack(outs, axis=0), prev


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def evaluate_sequence(spec_path, params, xs, state0):
    """Forward pass over a sequence.

    params: dict name -> array; xs: (T, B, D); state0: dict state -> (B, H).
    Returns ``(outputs, final_state)`` with outputs (T, B, H) holding the
    output state after each step and final_state a dict state -> (B, H).
    """
    spec = load_spec(spec_path)
    outputs, final = _run(spec, dict(params), xs, dict(state0))
    return np.asarray(outputs), {k: np.asarray(v) for k, v in final.items()}


def oracle_gradients(spec_path, params, xs, state0, d_outputs, d_state_last):
    """Gradients of L = sum(d_outputs * outputs) + sum_k sum(d_state_last[k] * final[k]).

    Returns {"params": {name: grad}, "xs": grad, "state0": {name: grad}}.
    """
    spec = load_spec(spec_path)
    states = spec["states"]
    d_outputs = np.asarray(d_outputs)
    d_last = {k: np.asarray(d_state_last[k]) for k in states}

    def loss(args):
        p, x, s0 = args
        outputs, final = _run(spec, p, x, s0)
        total = anp.sum(d_outputs * outputs)
        for k in states:
            total = total + anp.sum(d_last[k] * final[k])
        return total

    args = (
        {k: np.asarray(v) for k, v in params.items()},
        {k: np.asarray(v) for k, v in xs.items()} if isinstance(xs, dict) else np.asarray(xs),
        {k: np.asarray(state0[k]) for k in states},
    )
    g_params, g_xs, g_state0 = grad(loss)(args)
    return {
        "params": {k: np.asarray(v) for k, v in g_params.items()},
        "xs": {k: np.asarray(v) for k, v in g_xs.items()} if isinstance(g_xs, dict) else np.asarray(g_xs),
        "state0": {k: np.asarray(v) for k, v in g_state0.items()},
    }


def random_problem(spec_path, T, B, D, H, seed, sizes=None):
    """A random float64 problem for the spec.

    All draws come from ``numpy.random.default_rng(seed)`` in this order:
    params (spec order, uniform [-0.5, 0.5]), xs (T, B, D) uniform [-1, 1]
    (a dict of them by input name for several inputs), state0 (states order,
    (B, H) uniform [-1, 1]), d_outputs (T, B, H) standard normal, d_state_last
    (states order, (B, H) standard normal); each vector at its own size.
    The returned dict's keys match ``oracle_gradients``' keyword arguments.
    """
    spec = load_spec(spec_path)
    values = size_values(spec, D, H, sizes)
    size = {name: values[letter] for name, letter in spec["vector_size"].items()}
    rng = np.random.default_rng(seed)
    shapes = _param_shapes(spec, values)
    params = {
        name: rng.uniform(-0.5, 0.5, size=shape).astype(np.float64)
        for name, shape in shapes.items()
    }
    xs = {name: rng.uniform(-1.0, 1.0, size=(T, B, size[name])) for name in spec["inputs"]}
    xs = xs if len(xs) > 1 else xs[spec["inputs"][0]]
    state0 = {s: rng.uniform(-1.0, 1.0, size=(B, size[s])) for s in spec["states"]}
    d_outputs = rng.standard_normal((T, B, size[spec["output"]]))
    d_state_last = {s: rng.standard_normal((B, size[s])) for s in spec["states"]}
    return {
        "params": params,
        "xs": xs,
        "state0": state0,
        "d_outputs": d_outputs,
        "d_state_last": d_state_last,
    }
