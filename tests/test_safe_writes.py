"""Outputs are all written or none: a failure part-way leaves every previous file as it was."""
import os
import subprocess
import sys

import pytest

from derive import atomic_write
from derive.errors import OutputError
from derive.lock import LOCK


def snapshot(folder):
    """Every file (dotfiles too) but the lock, which stays, empty, once a write is over."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK}


@pytest.fixture
def existing(tmp_path):
    out = tmp_path / "out"
    atomic_write.write_files(out, {"a/a.py": "old a\n", "b/b.py": "old b\n", "c.md": "old c\n"})
    os.chmod(out / "c.md", 0o640)
    return out


NEW = {"a/a.py": "new a\n", "b/b.py": "new b\n", "c.md": "new c\n", "d/d.tex": "new d\n"}


@pytest.mark.parametrize("failing_rename", [1, 2, 3, 4])
def test_a_failed_rename_restores_everything(existing, monkeypatch, failing_rename):
    before = snapshot(existing)
    real_replace, calls = os.replace, []

    def flaky_replace(source, target, **folders):
        if not str(target).startswith(".derive-"):  # an output's rename, not the journal's
            calls.append(target)
            if len(calls) == failing_rename:
                raise OSError(28, "No space left on device", str(target))
        return real_replace(source, target, **folders)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OutputError, match="No space left on device; nothing was changed"):
        atomic_write.write_files(existing, NEW)
    monkeypatch.undo()
    assert snapshot(existing) == before, "every file holds what it held, with its permissions, and nothing new stays"


def test_a_successful_write_keeps_permissions_and_leaves_no_temporary_files(existing):
    changed = atomic_write.write_files(existing, NEW)
    assert sorted(changed) == sorted(NEW)
    after = snapshot(existing)
    assert {name: data for name, (data, _) in after.items()} == {name: text.encode() for name, text in NEW.items()}
    assert after["c.md"][1] == 0o640
    umask = os.umask(0)
    os.umask(umask)
    assert after["d/d.tex"][1] == 0o666 & ~umask


def test_unchanged_files_are_not_rewritten(existing):
    stamp = (existing / "a" / "a.py").stat().st_mtime_ns
    assert atomic_write.write_files(existing, {"a/a.py": "old a\n"}) == []
    assert (existing / "a" / "a.py").stat().st_mtime_ns == stamp


def test_cli_reports_an_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be\n")
    run = subprocess.run([sys.executable, "-m", "derive", "build", "nico", "--out", str(blocker)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2 and "cannot write" in run.stderr and "nothing was changed" in run.stderr
    assert "Traceback" not in run.stderr
    assert blocker.read_text() == "a file where the output folder should be\n"
