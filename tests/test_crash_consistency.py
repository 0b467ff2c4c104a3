"""A build that is killed, interrupted, run twice at once or short of disk space never leaves a
mixed folder: the next build finds the old build or the new one, byte for byte, and no stray file.

The kill tests use atomic_write.py's test hook (DERIVE_TEST_KILL_AT_RENAME, DERIVE_TEST_KILL_SIGNAL):
the child process signals itself just before the k-th rename of its write.
"""
import errno
import fcntl
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from derive import atomic_write, pipeline
from derive.catalog import builtin_spec
from derive.errors import OutputError
from derive.folder import NEW_SUFFIX, Folder
from derive.journal import JOURNAL
from derive.lock import LOCK, open_folder

OLD_CELLS = ["nico", "rnn", "lstm"]
NEW_CELLS = OLD_CELLS + ["gru"]  # the new build adds a cell (a new folder) ...
RENAMES = 3 + 8  # ... and changes every .tex (a user template): 3 replaced files, 8 new ones
EXPECTED_DOTFILES = {LOCK, ".derive-cache.json"}


def derive(*args, env=None, timeout=120):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def listing(folder):
    """Every file and folder below folder, dotfiles included, as relative names."""
    return sorted(str(p.relative_to(folder)) + ("/" if p.is_dir() else "") for p in folder.rglob("*"))


def contents(folder):
    """The bytes of every file but the lock and the cache (whose presence `listing` checks)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in EXPECTED_DOTFILES}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The old build's folder, the new build's templates, and the two snapshots."""
    base = tmp_path_factory.mktemp("builds")
    templates = base / "templates"
    templates.mkdir()
    document = (ROOT / "templates" / "document.tex.j2").read_text()
    (templates / "document.tex.j2").write_text("% rebuilt with a user template\n" + document)
    old = base / "old"
    assert derive("build", *OLD_CELLS, "--out", str(old)).returncode == 0
    new = base / "new"
    shutil.copytree(old, new, symlinks=True)
    run = derive("build", *NEW_CELLS, "--out", str(new), "--templates", str(templates))
    assert run.returncode == 0, run.stderr
    assert f"{RENAMES} written" in run.stdout, "the new build renames RENAMES files"
    return {"old": old, "templates": templates, "old_files": contents(old), "new_files": contents(new),
            "new_listing": listing(new)}


def new_build(out, builds, **env):
    return derive("build", *NEW_CELLS, "--out", str(out), "--templates", str(builds["templates"]), env=env)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
@pytest.mark.parametrize("k", range(1, RENAMES + 1))
def test_a_build_killed_at_any_rename_is_recovered(builds, tmp_path, k, signal_name):
    out = tmp_path / "out"
    shutil.copytree(builds["old"], out, symlinks=True)
    killed = new_build(out, builds, DERIVE_TEST_KILL_AT_RENAME=str(k), DERIVE_TEST_KILL_SIGNAL=signal_name)
    if signal_name == "KILL":
        assert killed.returncode == -9
        assert (out / JOURNAL).exists(), "a crash leaves the journal for the next build"
    else:  # SIGTERM is rolled back in the process, like Ctrl-C
        assert killed.returncode == 130 and "interrupted" in killed.stderr, killed.stderr
        assert "Traceback" not in killed.stderr
        assert contents(out) == builds["old_files"] and not (out / JOURNAL).exists()
    check = derive("build", "nico", "--out", str(out), "--check")  # --check recovers too, then writes nothing
    assert "Traceback" not in check.stderr, check.stderr
    if signal_name == "KILL":
        assert "derive: recovered an interrupted build in" in check.stderr
    assert contents(out) in (builds["old_files"], builds["new_files"]), f"a mixed folder after a kill at rename {k}"
    assert all(name.split("/")[-1] in EXPECTED_DOTFILES or not name.split("/")[-1].startswith(".")
               for name in listing(out)), listing(out)
    rebuilt = new_build(out, builds)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert contents(out) == builds["new_files"] and listing(out) == builds["new_listing"]


@pytest.mark.slow
def test_a_hangup_is_rolled_back_like_ctrl_c(builds, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(builds["old"], out, symlinks=True)
    run = new_build(out, builds, DERIVE_TEST_KILL_AT_RENAME="5", DERIVE_TEST_KILL_SIGNAL="HUP")
    assert run.returncode == 130 and "Traceback" not in run.stderr
    assert contents(out) == builds["old_files"] and listing(out) == listing(builds["old"])


def test_a_crash_while_staging_is_undone(tmp_path, monkeypatch):
    """Killed after some temporary files and a new folder were written: the next build removes them."""
    out = tmp_path / "out"
    atomic_write.write_files(out, {"a/a.py": "old a\n", "c.md": "old c\n"})
    before = listing(out)
    written, real_write_new = [], Folder.write_new

    def dies_on_the_third(self, relative, data, mode):
        written.append(relative)
        if len(written) == 4:  # the journal, then three temporary files
            raise KeyboardInterrupt
        return real_write_new(self, relative, data, mode)

    monkeypatch.setattr(Folder, "write_new", dies_on_the_third)
    monkeypatch.setattr(atomic_write, "_undo", lambda folder, journal: None)  # as if the process had died here
    with pytest.raises(KeyboardInterrupt):
        atomic_write.write_files(out, {"a/a.py": "new a\n", "b/b.py": "new b\n", "d/e/f.tex": "new f\n", "c.md": "new c\n"})
    monkeypatch.undo()
    assert (out / JOURNAL).exists() and (out / "d" / "e").is_dir()
    with open_folder(out):
        pass
    assert listing(out) == before and (out / "a" / "a.py").read_text() == "old a\n"


@pytest.mark.slow
def test_builds_started_at_once_end_in_one_complete_build(tmp_path):
    single = tmp_path / "single"
    assert derive("build", "nico", "rnn", "--out", str(single)).returncode == 0
    out = tmp_path / "shared"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-m", "derive", "build", "nico", "rnn", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment) for _ in range(4)]
    results = [run.communicate(timeout=120) + (run.returncode,) for run in runs]
    assert all(code == 0 for _, _, code in results), results
    written = f"{len(contents(single))} written"  # every file of both cells
    assert sum(written in stdout for stdout, _, _ in results) == 1, "one build wrote, the others found it done"
    assert contents(out) == contents(single) and listing(out) == listing(single)


def test_a_build_waits_for_the_lock_then_gives_up(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        run = derive("build", "nico", "--out", str(out), env={"DERIVE_LOCK_TIMEOUT": "0.5"})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"derive: waiting for another derive build into {out} (pid {os.getpid()})" in run.stderr
    assert f"another derive build into {out} (pid {os.getpid()}) still holds" in run.stderr
    assert listing(out) == [LOCK], "nothing was written while the lock was held"
    assert derive("build", "nico", "--out", str(out)).returncode == 0, "a released lock is free (no stale state)"


@pytest.mark.parametrize("budget", [0, 40, 300, 5000, 20000])
def test_a_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch, budget):
    out = tmp_path / "out"
    pipeline.build([builtin_spec("rnn")], out)
    before, listed = contents(out), listing(out)
    real_write, left = os.write, [budget]

    def disk_fills_up(handle, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = real_write(handle, bytes(data[:left[0]]))
        left[0] -= written
        return written

    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(OutputError, match="No space left on device; nothing was changed"):
        pipeline.build([builtin_spec("rnn"), builtin_spec("nico")], out, templates=_tex_templates(tmp_path))
    monkeypatch.undo()
    assert contents(out) == before and listing(out) == listed, "no temporary file, no new folder, old outputs intact"


def _tex_templates(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "document.tex.j2").write_text("% changed\n" + (ROOT / "templates" / "document.tex.j2").read_text())
    return templates


# -- nothing outside the output folder is written through a link --------------------------------


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("not derive's\n")
    return folder


def untouched(outside):
    return listing(outside) == ["precious.txt"] and (outside / "precious.txt").read_text() == "not derive's\n"


@pytest.mark.parametrize("link", [".derive-cache.json", "nico/nico.md", LOCK, JOURNAL, "nico"])
def test_a_link_to_a_file_or_folder_outside_is_refused(tmp_path, outside, link):
    out = tmp_path / "out"
    (out / link).parent.mkdir(parents=True, exist_ok=True)
    (out / link).symlink_to(outside if link == "nico" else outside / "precious.txt")  # a cell's folder, or a file
    with pytest.raises(OutputError, match=f"refusing to use .*{link}: it is a symbolic link"):
        pipeline.build([builtin_spec("nico")], out)
    assert untouched(outside)


def test_a_linked_output_folder_is_followed(tmp_path, outside):
    """--out itself is the user's own choice of path: a link there is followed, on purpose."""
    target = outside / "generated"
    target.mkdir()
    (tmp_path / "out").symlink_to(target, target_is_directory=True)
    pipeline.build([builtin_spec("nico")], tmp_path / "out")
    assert (target / "nico" / "nico.py").is_file() and (outside / "precious.txt").read_text() == "not derive's\n"
    assert sorted(p.name for p in outside.iterdir()) == ["generated", "precious.txt"]


def test_a_dangling_output_folder_link_is_reported(tmp_path):
    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    run = derive("build", "nico", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "is a symbolic link to" in run.stderr and "which does not exist" in run.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_finished_build_leaves_no_lock_file_and_a_killed_ones_is_reused(tmp_path):
    out = tmp_path / "out"
    atomic_write.write_files(out, {"a.md": "a\n"})
    assert listing(out) == ["a.md"]
    (out / LOCK).write_text("12345\n")  # what a killed build leaves: a file nobody holds
    atomic_write.write_files(out, {"a.md": "b\n"})
    assert listing(out) == ["a.md"] and (out / "a.md").read_text() == "b\n"


def test_a_half_written_journal_or_cache_is_removed_by_the_next_build(tmp_path):
    """Killed while replacing the journal or the cache: their temporary files go, nothing else."""
    out = tmp_path / "out"
    pipeline.build([builtin_spec("rnn")], out)
    before = contents(out)
    for leftover in (JOURNAL + NEW_SUFFIX, ".derive-cache.json" + NEW_SUFFIX):
        (out / leftover).write_text('{"half": ')
    pipeline.build([builtin_spec("rnn")], out)
    assert contents(out) == before and ".derive-cache.json" in listing(out)
