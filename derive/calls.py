"""Every name an equation may call: the element-wise functions, concat, the reductions and block.

One list, so that the parser, the dependency checks, the reserved names and the messages that
list what a spec may call never disagree.
"""
from __future__ import annotations

from .blocks import BLOCK
from .functions import CONCAT, FUNCTIONS
from .reductions import REDUCTIONS

# In the order messages list them.
CALLABLE: tuple[str, ...] = (*FUNCTIONS, CONCAT, *REDUCTIONS, BLOCK)
