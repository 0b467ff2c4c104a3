"""PNG previews of a LaTeX document: pdflatex makes a PDF, pdftoppm (poppler) turns each page into a PNG.

Everything happens in a temporary folder that is removed afterwards, whatever the outcome; the user's folders
are never written to. The document cannot run shell commands (-no-shell-escape) and can read files only from
that folder and the TeX installation (kpathsea's paranoid openin_any), so `\\input{/etc/passwd}` fails.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import DeriveError

# tool -> the Debian package that installs it
TOOLS = {"pdflatex": "texlive-latex-base", "pdftoppm": "poppler-utils"}
PDFLATEX_FLAGS = ("-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape")
MAX_RUNS = 3  # pdflatex runs again while its log asks for a rerun (cross-references), at most this often


def png_pages(tex_source: str, dpi: int = 110, timeout: float = 60) -> list[bytes]:
    """The pages of the LaTeX document `tex_source`, each a PNG image at `dpi` dots per inch.

    timeout: seconds for the whole job (every pdflatex run and pdftoppm). Raises DeriveError when a tool is
    missing, the document does not compile (quoting pdflatex's error and the line it stopped at), or time
    runs out.
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi <= 0:
        raise DeriveError(f"the preview's dpi must be a positive whole number, not {dpi!r}")
    if timeout <= 0:
        raise DeriveError(f"the preview's timeout must be positive, not {timeout!r}")
    pdflatex, pdftoppm = (_tool(name) for name in ("pdflatex", "pdftoppm"))
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="derive-preview-") as folder:
        work = Path(folder)
        (work / "doc.tex").write_text(tex_source, encoding="utf-8")
        env = {
            **os.environ,
            "openin_any": "p",  # read nothing outside this folder and the TeX tree
            "openout_any": "p",  # write nothing outside this folder
            "TEXMFVAR": str(work / "texmf-var"),  # fonts TeX may generate go here, not into ~/.texliveYYYY
            "max_print_line": "1000",  # log lines unwrapped, so an error message is quoted whole
        }
        for _ in range(MAX_RUNS):
            result = _run([pdflatex, *PDFLATEX_FLAGS, "doc.tex"], work, env, deadline, timeout)
            log_path = work / "doc.log"
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
            if result.returncode != 0:
                raise DeriveError(_compile_error(log, result.stdout))
            if not (work / "doc.pdf").is_file():
                raise DeriveError("pdflatex made no PDF: the document has no pages of output")
            if "Rerun to get" not in log:
                break
        result = _run([pdftoppm, "-png", "-r", str(dpi), "doc.pdf", "page"], work, env, deadline, timeout)
        if result.returncode != 0:
            raise DeriveError(f"pdftoppm could not convert the PDF: {_last_lines(result.stdout)}")
        pages = sorted(work.glob("page-*.png"), key=lambda path: int(path.stem.rsplit("-", 1)[1]))
        if not pages:
            raise DeriveError("pdftoppm wrote no pages")
        return [page.read_bytes() for page in pages]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DeriveError(f"{name} not found: install Debian's {TOOLS[name]} (apt-get install {TOOLS[name]})")
    return path


def _run(command: list[str], cwd: Path, env: dict, deadline: float, timeout: float) -> subprocess.CompletedProcess:
    """`command` in `cwd`, output (stdout and stderr together) captured, killed with its children at `deadline`."""
    tool = Path(command[0]).name
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        output, _ = process.communicate(timeout=max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the whole session: pdflatex may have started mktexpk
        except ProcessLookupError:
            pass
        process.communicate()
        raise DeriveError(f"{tool} did not finish within the preview's time limit of {timeout:g} s") from None
    return subprocess.CompletedProcess(command, process.returncode, output)


def _compile_error(log: str, output: str) -> str:
    """pdflatex's first error ("! ...") and where it stopped ("l.NN ..."), from its log."""
    lines = log.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith("!")), None)
    if start is None:
        return f"pdflatex failed without an error in its log: {_last_lines(output)}"
    where = next((line.rstrip() for line in lines[start + 1 :] if re.match(r"l\.\d+\b", line)), None)
    message = f"pdflatex could not compile the document: {lines[start]}"
    return message + (f" (at {where})" if where else "")


def _last_lines(output: str, count: int = 5) -> str:
    tail = [line for line in output.strip().splitlines() if line.strip()][-count:]
    return " / ".join(tail) if tail else "(no output)"
