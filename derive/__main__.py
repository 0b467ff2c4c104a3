"""`python -m derive` runs the CLI; `run` is also the `derive` command's entry point.

Ctrl-C while the CLI is still importing (SymPy and NumPy take a second or more) ends the
program with one line and exit status 130, as Ctrl-C does later (derive.cli.main).
"""
import gc
import sys

INTERRUPTED = "derive: interrupted; every output is as it was or complete"


def run() -> int:
    try:
        from .cli import main

        # SymPy's and NumPy's import-time objects live as long as the process: moved out of the
        # collector's reach, they are not scanned again by every collection of a build nor at exit
        # (about an eighth of a cold catalog build's time: python -m benchmarks --only generation).
        gc.freeze()
        return main()
    except KeyboardInterrupt:  # main handles its own; this is the import and argument parsing
        print(INTERRUPTED, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
