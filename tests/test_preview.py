"""derive.preview: a LaTeX document to PNG pages with pdflatex and pdftoppm, in a temporary folder, safely.

Without pdflatex or pdftoppm (Debian's texlive-latex-base and poppler-utils) the compiling tests are skipped with
that reason; the missing-tool errors are tested everywhere.
"""
from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import pytest

import derive.preview
from derive.errors import DeriveError
from derive.preview import png_pages

ROOT = Path(__file__).resolve().parent.parent
MISSING = [tool for tool in ("pdflatex", "pdftoppm") if shutil.which(tool) is None]
needs_tools = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{' and '.join(MISSING)} not on PATH: install Debian's texlive-latex-base and poppler-utils",
)

MINIMAL = r"""\documentclass{article}
\begin{document}
Hello, $\frac{\partial L}{\partial h(t)}$.
\end{document}
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must have first."""
    assert data[:8] == PNG_MAGIC, data[:8]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def watched(tmp_path, monkeypatch) -> list[Path]:
    """tempfile's folder and the working directory, both empty folders: they must stay empty."""
    folders = [tmp_path / "temp", tmp_path / "cwd"]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folders[0]))
    monkeypatch.chdir(folders[1])
    return folders


def assert_nothing_left(folders: list[Path]) -> None:
    for folder in folders:
        assert list(folder.iterdir()) == [], f"left behind in {folder}"


@needs_tools
def test_minimal_article_gives_one_page_at_the_asked_resolution(watched):
    pages = png_pages(MINIMAL, dpi=110)
    assert_nothing_left(watched)
    assert len(pages) == 1
    width, height = png_size(pages[0])
    # A4 (8.27 x 11.69 in) or US letter (8.5 x 11 in), whichever the TeX installation defaults to.
    assert 8.2 * 110 <= width <= 8.6 * 110 and 10.9 * 110 <= height <= 11.8 * 110, (width, height)
    half = png_size(png_pages(MINIMAL, dpi=55)[0])
    assert abs(2 * half[0] - width) <= 2 and abs(2 * half[1] - height) <= 2, (half, (width, height))


@needs_tools
def test_pages_come_in_order():
    # Twelve pages (pdftoppm names them page-01 ... page-12), each one inch wider than the one before.
    pages = "\n".join(rf"\pdfpagewidth={n}in \null\newpage" for n in range(1, 13))
    doc = "\\documentclass{article}\n\\begin{document}\n" + pages + "\n\\end{document}\n"
    widths = [png_size(page)[0] for page in png_pages(doc, dpi=20)]
    assert widths == [20 * n for n in range(1, 13)]


@needs_tools
def test_a_broken_document_names_the_undefined_control_sequence(watched):
    with pytest.raises(DeriveError) as caught:
        png_pages("\\documentclass{article}\n\\begin{document}\\undefinedmacro\\end{document}\n")
    assert_nothing_left(watched)
    message = str(caught.value)
    assert "! Undefined control sequence." in message
    assert "l.2 \\begin{document}\\undefinedmacro" in message


@needs_tools
def test_shell_escape_is_not_run(watched, tmp_path):
    target = tmp_path / "shell-escape-ran"
    doc = MINIMAL.replace("Hello", f"\\immediate\\write18{{touch {target}}}Hello")
    assert len(png_pages(doc)) == 1  # \write18 is ignored, not an error
    assert not target.exists(), "the document ran a shell command"
    assert_nothing_left(watched)


@needs_tools
def test_shell_escape_control(tmp_path, monkeypatch):
    """Control: with shell escape allowed, the same document does run the command (so the test above can fail)."""
    monkeypatch.setattr(derive.preview, "PDFLATEX_FLAGS", ("-interaction=nonstopmode", "-shell-escape"))
    target = tmp_path / "shell-escape-ran"
    png_pages(MINIMAL.replace("Hello", f"\\immediate\\write18{{touch {target}}}Hello"))
    assert target.exists()


@needs_tools
def test_files_outside_are_not_read():
    assert Path("/etc/passwd").is_file()
    with pytest.raises(DeriveError, match=r"File `/etc/passwd(\.tex)?' not found"):
        png_pages(MINIMAL.replace("Hello", r"\input{/etc/passwd}"))


@needs_tools
def test_a_document_that_never_ends_is_stopped(watched):
    with pytest.raises(DeriveError, match=r"pdflatex did not finish within the preview's time limit of 2 s"):
        png_pages("\\documentclass{article}\n\\begin{document}\n\\def\\x{\\x}\\x\n\\end{document}\n", timeout=2)
    assert_nothing_left(watched)


@needs_tools
def test_an_empty_document_is_an_error():
    with pytest.raises(DeriveError, match="no pages of output"):
        png_pages("\\documentclass{article}\n\\begin{document}\n\\end{document}\n")


@needs_tools
def test_generated_nico_tex_compiles():
    source = (ROOT / "generated" / "nico" / "nico.tex").read_text(encoding="utf-8")
    pages = png_pages(source, dpi=60)
    assert pages
    for page in pages:
        width, height = png_size(page)
        assert 8.2 * 60 <= width <= 8.6 * 60 and 10.9 * 60 <= height <= 11.8 * 60, (width, height)


def test_missing_tools_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no tool at all
    with pytest.raises(DeriveError, match="pdflatex not found: install Debian's texlive-latex-base"):
        png_pages(MINIMAL)
    pdflatex = tmp_path / "pdflatex"
    pdflatex.write_text("#!/bin/sh\nexit 1\n")
    pdflatex.chmod(0o755)
    with pytest.raises(DeriveError, match="pdftoppm not found: install Debian's poppler-utils"):
        png_pages(MINIMAL)


@pytest.mark.parametrize("dpi", [0, -5, 72.5, True])
def test_dpi_must_be_a_positive_whole_number(dpi):
    with pytest.raises(DeriveError, match="dpi must be a positive whole number"):
        png_pages(MINIMAL, dpi=dpi)
