"""`python -m derive` runs the CLI."""
import sys

from .cli import main

sys.exit(main())
