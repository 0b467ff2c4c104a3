"""Small input that asks for unbounded work is refused before the work: files that are not
regular files or are too large, sizes and parameter counts too large for the command, a cell
that takes too long to derive, look-alike Unicode digits and blanks in names and sizes, flags
out of range, Ctrl-C while starting. Each refusal is one line, without a traceback."""
import os
import resource
import subprocess
import sys
import unicodedata

import hypothesis.strategies as st
import pytest
from conftest import ROOT
from hypothesis import given, settings

from derive import limits
from derive.arguments import real_number, whole_number
from derive.cli import main
from derive.derivation import derive_backward
from derive.errors import DeriveError, SpecError
from derive.model import build_model
from derive.spec import MAX_SPEC_BYTES, load_spec, spec_from_text
from derive.experiments.train import MAX_TEXT_BYTES
from test_bad_specs import GOOD

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the child imports this tree's derive


def run_cli(*args, cwd, timeout=30, env=ENV):
    """The CLI in a child with a 2 GiB address-space limit, so a regression that reads /dev/zero
    whole fails with an error instead of eating the machine, and one that blocks times out."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, preexec_fn=limit)


def one_clean_line(run, *fragments):
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip()
    assert "Traceback" not in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


class CountingReads:
    """Wraps os.read to count the bytes it returns (the caps say how many may be read)."""

    def __init__(self, monkeypatch):
        self.total, real = 0, os.read

        def read(descriptor, size):
            data = real(descriptor, size)
            self.total += len(data)
            return data
        monkeypatch.setattr(limits.os, "read", read)


# --------------------------------------------------------------------------- files

def test_a_fifo_spec_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "cell.toml"
    os.mkfifo(fifo)
    run = run_cli("build", str(fifo), "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=20)
    one_clean_line(run, str(fifo), "a FIFO (named pipe)", "a regular file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["zero.toml", "zero"])
def test_dev_zero_as_a_spec_is_refused_without_reading_it(tmp_path, name):
    link = tmp_path / name
    link.symlink_to("/dev/zero")  # resolved: a character device, whatever the link is called
    run = run_cli("gradcheck", str(link), cwd=tmp_path, timeout=20)
    one_clean_line(run, str(link), "a character device", "a regular file")


def test_a_spec_over_the_cap_is_refused_after_reading_cap_plus_one_bytes(tmp_path, monkeypatch):
    big = tmp_path / "big.toml"
    with open(big, "wb") as file:
        os.truncate(file.fileno(), 100 * MAX_SPEC_BYTES)  # sparse: no real data written
    reads = CountingReads(monkeypatch)
    with pytest.raises(SpecError, match=f"larger than {MAX_SPEC_BYTES:,} bytes"):
        load_spec(big)
    assert reads.total == MAX_SPEC_BYTES + 1


def test_a_spec_at_the_cap_is_read(tmp_path):
    exact = tmp_path / "exact.toml"
    exact.write_bytes(GOOD.encode() + b"#" * (MAX_SPEC_BYTES - len(GOOD.encode())))
    assert load_spec(exact).name == "tiny"


def test_a_huge_training_text_is_refused_after_cap_plus_one_bytes(tmp_path, monkeypatch, capsys):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as file:
        os.truncate(file.fileno(), 200 * 1024 * 1024)  # 200 MB, sparse
    reads = CountingReads(monkeypatch)
    monkeypatch.setattr("derive.experiments.train.train_chars", never("training"))
    assert main(["train", "rnn", "--task", "chars", "--text", str(huge), "--iterations", "1"]) == 2
    message = capsys.readouterr().err
    assert f"--text {huge}: larger than {MAX_TEXT_BYTES:,} bytes" in message and "Traceback" not in message
    assert reads.total == MAX_TEXT_BYTES + 1


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_training_text_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "text.txt"
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    run = run_cli("train", "rnn", "--task", "chars", "--text", str(path), "--iterations", "1", cwd=tmp_path, timeout=20)
    one_clean_line(run, f"--text {path}", "FIFO" if kind == "fifo" else "character device", "a regular file")


def test_a_bom_is_stripped(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_spec(path).source_text == GOOD


# --------------------------------------------------------------------------- parameters

def big_cell(rows: str) -> str:
    """GOOD with one more intermediate of `rows` entries: v = tanh(V @ x), read by h through U."""
    return (GOOD.replace("h = z * tanh(W_h @ x + U_h @ h(t-1))", "v = tanh(V @ x)\nh = z * tanh(W_h @ x + U_h @ h(t-1) + R @ v)")
            + f'V = ["{rows}", "D"]\nR = ["H", "{rows}"]\n')


def test_the_issue_shape_of_two_thousand_terms_is_refused():
    with pytest.raises(SpecError, match="it has 2000 terms \\(at most 8\\)"):
        spec_from_text(big_cell(" + ".join(["9999*H"] * 2000)), "big.toml")


def test_a_cell_too_big_at_the_seed_sizes_is_refused_naming_the_parameter():
    with pytest.raises(SpecError) as error:
        spec_from_text(big_cell(" + ".join(["9999*H"] * 8)), "big.toml")
    message = str(error.value)
    assert "big.toml:17:" in message and "the largest, R, is 100 x 7,999,200" in message
    assert "at most 10,000,000 parameters" in message


def never(what):
    def called(*args, **kwargs):
        raise AssertionError(f"{what} ran: the cap did not stop it")
    return called


def test_gradcheck_counts_parameters_at_its_own_sizes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("derive.cli.gradcheck", never("gradcheck"))  # a missing cap fails, never hangs
    monkeypatch.setattr("derive.cli.generated_module", never("generation"))  # the count comes first
    path = tmp_path / "big.toml"
    path.write_text(big_cell("9999"))  # 1.5 million parameters at D=50, H=100: fine to build
    spec_from_text(path.read_text(), str(path))
    assert main(["gradcheck", str(path), "--input-size", "64", "--hidden-size", "64"]) == 2
    message = capsys.readouterr().err
    assert "1,296,320 parameters at D=64, H=64" in message and "at most 100,000 parameters for gradcheck" in message


def test_compare_counts_parameters_at_its_own_sizes(capsys):
    assert main(["compare", "lstm", "gru", "--hidden-size", "100000"]) == 2
    message = capsys.readouterr().err
    assert "at D=50, H=100000" in message and "at most 1,000,000,000 parameters for compare's cost table" in message


def test_train_counts_parameters_at_its_own_sizes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("derive.experiments.commands.generated_module", never("generation"))
    monkeypatch.setattr("derive.experiments.train.train_chars", never("training"))
    path = tmp_path / "big.toml"
    path.write_text(big_cell("9999"))
    assert main(["train", str(path), "--task", "chars", "--hidden-size", "4096", "--iterations", "1"]) == 2
    message = capsys.readouterr().err
    assert "H=4096" in message and "at most 20,000,000 parameters for the chars task" in message


# --------------------------------------------------------------------------- time

def test_lowering_stops_at_the_cell_deadline(monkeypatch):
    monkeypatch.setattr(limits, "CELL_SECONDS", -1.0)
    with pytest.raises(limits.CellTimeout, match="tiny.toml: reading the equations of cell 'tiny' took more than"):
        build_model(spec_from_text(GOOD, "tiny.toml"))


def test_the_derivation_stops_at_the_cell_deadline(monkeypatch):
    model = build_model(spec_from_text(GOOD, "tiny.toml"))
    monkeypatch.setattr(limits, "CELL_SECONDS", -1.0)
    with pytest.raises(limits.CellTimeout, match="deriving the backward pass of cell 'tiny' took more than"):
        derive_backward(model)


def test_the_deadline_is_a_clean_cli_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(limits, "CELL_SECONDS", -1.0)
    assert main(["build", "nico", "--out", str(tmp_path / "out")]) == 2
    assert "took more than" in capsys.readouterr().err and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Unicode digits and blanks

LOOKALIKES = st.characters(categories=["Nd", "Zs"]).filter(lambda c: not c.isascii())

# Every place a spec names something or gives a size: (what, spec text with the character c in it)
PLACES = {
    "cell name": lambda c: GOOD.replace('name = "tiny"', f'name = "tiny{c}"'),
    "input": lambda c: GOOD.replace('inputs = ["x"]', f'inputs = ["x{c}"]'),
    "state": lambda c: GOOD.replace('states = ["h"]', f'states = ["h{c}"]'),
    "output": lambda c: GOOD.replace('output = "h"', f'output = "h{c}"'),
    "parameter name": lambda c: GOOD.replace('b_z = ["H"]', f'"b_z{c}" = ["H"]'),
    "size, leading": lambda c: GOOD.replace('b_z = ["H"]', f'b_z = ["{c}*H"]'),
    "size, between terms": lambda c: GOOD.replace('W_z = ["H", "D + H"]', f'W_z = ["H", "D{c}+ H"]'),
    "size, trailing": lambda c: GOOD.replace('W_h = ["H", "D"]', f'W_h = ["H", "D{c}"]'),
    "equation target": lambda c: GOOD.replace("z = sigmoid", f"z{c} = sigmoid"),
    "equation, after the target": lambda c: GOOD.replace("z = sigmoid", f"z ={c}sigmoid"),
    "equation, at the end": lambda c: GOOD.replace("+ b_z)", f"+ b_z){c}"),
    "equation, a number": lambda c: GOOD.replace("h = z * tanh", f"h = {c} * z * tanh"),
}


@settings(max_examples=60, deadline=2000, derandomize=True, database=None)
@given(st.sampled_from(sorted(PLACES)), LOOKALIKES)
def test_unicode_digits_and_blanks_are_refused_everywhere(place, char):
    with pytest.raises(SpecError) as error:
        spec_from_text(PLACES[place](char), "tiny.toml")
    message = str(error.value)
    assert f"U+{ord(char):04X}" in message and "tiny.toml:" in message, (place, unicodedata.name(char, "?"), message)


@settings(max_examples=30, deadline=2000, derandomize=True, database=None)
@given(LOOKALIKES, st.sampled_from(["{c}", "1{c}", "{c}1", "-{c}"]))
def test_unicode_digits_and_blanks_are_refused_in_number_flags(char, form):
    import argparse
    text = form.format(c=char)
    for parse in (whole_number, real_number):
        with pytest.raises(argparse.ArgumentTypeError, match=f"U\\+{ord(char):04X}"):
            parse(text)


def test_the_issue_examples_are_refused():
    for text, code in ((GOOD.replace('b_z = ["H"]', 'b_z = ["\u0661*H"]'), "U+0661"),
                       (GOOD.replace('"D + H"', '"D\u00a0+\u2003H"'), "U+00A0")):
        with pytest.raises(SpecError, match=code.replace("+", "\\+")):
            spec_from_text(text, "tiny.toml")


# --------------------------------------------------------------------------- flags

@pytest.mark.parametrize("argv", [
    ["gradcheck", "nico", "--seed", "-1"],
    ["train", "nico", "--task", "toy", "--init", "default", "--seed", "-1"],
    ["train", "nico", "--task", "chars", "--seed", "-1"],
    ["race", "nico", "--task", "chars", "--seed", "-1", "--out", "x"],
    ["gradcheck", "nico", "--seed", str(2**32)],
])
def test_seeds_out_of_range_are_refused(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--seed {argv[argv.index('--seed') + 1]}: expected a whole number from 0 to 4294967295" in err


@pytest.mark.parametrize("argv, fragment", [
    (["train", "nico", "--task", "toy", "--seed", "3"], "--seed 3 would be ignored: --init original (the default)"),
    (["train", "nico", "--task", "toy", "--init", "original", "--seed", "0"], "--seed 0 would be ignored"),
    (["race", "nico", "--task", "toy", "--seed", "3", "--out", "x"], "race --task toy always uses"),
    (["train", "nico", "--task", "chars", "--init", "default"], "--init default applies to --task toy"),
])
def test_a_seed_that_would_be_ignored_is_refused(argv, fragment, capsys, tmp_path):
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- Ctrl-C at start-up

@pytest.mark.parametrize("how", ["python -m derive", "console entry point"])
def test_ctrl_c_while_importing_is_one_line_and_130(tmp_path, how):
    fake = tmp_path / "fake" / "sympy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise KeyboardInterrupt\n")  # as if Ctrl-C came during the import
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), str(ROOT)])}
    command = ["-m", "derive", "list"] if how == "python -m derive" else \
        ["-c", "import sys; from derive.__main__ import run; sys.argv = ['derive', 'list']; sys.exit(run())"]
    run = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=30, env=env)
    assert run.returncode == 130, run.stderr
    assert run.stderr.strip() == "derive: interrupted; every output is as it was or complete"


def test_the_console_entry_point_is_the_guarded_one():
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["derive"] == "derive.__main__:run"


def test_limits_are_derive_errors():
    assert issubclass(limits.CellTimeout, DeriveError) and issubclass(limits.FileRefused, DeriveError)
