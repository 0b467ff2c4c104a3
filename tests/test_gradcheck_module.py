"""`derive gradcheck --module FILE.py`: central differences of a user's own module, one that follows the
generated-module contract, for people who wrote code rather than equations.

The generated nico.py passes as a user's file; the same file with the carry from step t+1 left out of
dL/ds(t) (a mistake the "Simple LSTM" post's readers make) fails on the arrays that depend on it; a module
that lacks the contract's names, does not import, or raises when run is refused with a clear message.
"""
import subprocess
import sys

import pytest
from conftest import ROOT

NICO = (ROOT / "generated" / "nico" / "nico.py").read_text()
CARRY = 'd_s = d_state["s"] + d_h*o'
STEPS_AS_SEQUENCE = "\nforward_sequence, backward_sequence = forward_sequence_steps, backward_sequence_steps\n"


def gradcheck(*args, cwd):
    return subprocess.run([sys.executable, "-m", "derive", "gradcheck", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_a_module_that_keeps_the_contract_is_checked(tmp_path):
    mine = tmp_path / "my_lstm.py"
    mine.write_text(NICO + STEPS_AS_SEQUENCE)
    run = gradcheck("--module", str(mine), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{mine}: central differences") and "(ok: the threshold is 1e-6)" in run.stdout


def test_a_forgotten_carry_is_found(tmp_path):
    assert NICO.count(CARRY) == 1
    mine = tmp_path / "my_lstm.py"
    # the readable steps as the sequence functions (a user's own module has no fast loops), with the part
    # of dL/ds(t) that arrives from step t+1 left out
    mine.write_text(NICO.replace(CARRY, "d_s = d_h*o") + STEPS_AS_SEQUENCE)
    run = gradcheck("--module", str(mine), "--steps", "3", cwd=tmp_path)
    assert run.returncode == 1 and "FAILED" in run.stdout
    rows = {line.split()[0]: float(line.split()[-1]) for line in run.stdout.splitlines()[2:-1]}
    assert rows["state0[s]"] > 1e-3 and rows["W_g"] > 1e-3


@pytest.mark.parametrize("source, message", [
    ("STATE = ('h',)\n", "it does not define SIZES, INPUTS, STATE_SIZES, OUTPUT, PARAM_SHAPES, init_params"),
    ("import numpy as np\nraise RuntimeError('boom')\n", "importing it raised RuntimeError: boom"),
    (NICO.replace("def backward_sequence(", "def backward_sequence_unused(") + "\ndef backward_sequence(*a, **k):\n    raise KeyError('W_x')\n",
     "running it raised KeyError: 'W_x'"),
])
def test_a_module_off_the_contract_is_refused_clearly(source, message, tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text(source)
    run = gradcheck("--module", str(mine), cwd=tmp_path)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_a_cell_or_a_module_not_both(tmp_path):
    run = gradcheck("nico", "--module", str(ROOT / "generated" / "nico" / "nico.py"), cwd=tmp_path)
    assert run.returncode == 2 and "a CELL or --module FILE.py, one of the two" in run.stderr
