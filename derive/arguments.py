"""Argument types and checks shared by the commands: numbers written in ASCII digits only, and the seed's range."""
from __future__ import annotations

import argparse
import re

from .errors import DeriveError

MAX_SEED = 2**32 - 1  # NumPy's legacy generator takes seeds in [0, 2**32)


def size_setting(text: str) -> tuple[str, int]:
    """An argparse type for a declared size's value: "P=8" -> ("P", 8)."""
    name, sign, value = text.partition("=")
    if not sign or not re.fullmatch(r"[A-Z]", name, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE for a size such as P=8")
    return name, whole_number(value)


def whole_number(text: str) -> int:
    """An argparse type: an optionally signed whole number in ASCII digits. int() alone also takes
    "\u0661" (an Arabic-Indic one), "1_000" and blanks around; ranges are checked by each command
    so that the message names the flag and its range."""
    if not re.fullmatch(r"-?[0-9]{1,12}", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number written in ASCII digits 0-9{_unicode_note(text)}")
    return int(text)


def real_number(text: str) -> float:
    """An argparse type: a decimal number in ASCII (float() also takes Unicode digits, "nan" and "inf")."""
    if not re.fullmatch(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number written in ASCII, such as 0.5 or 1e-3{_unicode_note(text)}")
    return float(text)


def _unicode_note(text: str) -> str:
    bad = next((char for char in text if not char.isascii()), None)
    return f" (it contains {bad!r}, U+{ord(bad):04X})" if bad else ""


def check_seed(args) -> None:
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise DeriveError(f"--seed {args.seed}: expected a whole number from 0 to {MAX_SEED}")
