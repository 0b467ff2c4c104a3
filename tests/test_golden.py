"""generated/ is exactly what `derive build` writes, on every run and every PYTHONHASHSEED."""
import os
import subprocess
import sys

from conftest import CATALOG, ROOT

from derive.catalog import builtin_spec
from derive.pipeline import build


def committed_files():
    folder = ROOT / "generated"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_generated_matches_a_fresh_build(tmp_path):
    build([builtin_spec(name) for name in CATALOG], tmp_path, comparison=True)
    fresh = {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file() and not p.name.startswith(".")}
    committed = committed_files()
    assert sorted(fresh) == sorted(committed), "generated/ has missing or extra files: run `derive build`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"generated/ is stale for {stale}: run `derive build`"


def test_every_builtin_cell_has_its_outputs():
    files = committed_files()
    for name in CATALOG:
        for suffix in (".py", "_torch.py", ".tex", ".md", ".html"):
            assert f"{name}/{name}{suffix}" in files


def test_same_bytes_under_any_hash_seed(tmp_path):
    outputs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "derive", "build", "--out", str(out)], check=True, env=env,
                       cwd=ROOT, capture_output=True)
        outputs.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1] == outputs[2]


def test_comparison_is_committed():
    assert "COMPARISON.md" in committed_files()
