"""The cyclic garbage collector off for the length of a search.

NOTE(search-gc): a search allocates millions of long-lived objects (hash-consed tuples and
ints in the visited dict, successor memo entries) and frees almost nothing, and none of it is
cyclic garbage; every young-generation collection still walks the survivors and each older one
walks all of them again, 10-40% of a search's time. Reference counting still frees everything
that is not in a cycle. The collector's previous state is restored afterwards, also on errors.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; re-enable it only if it was enabled."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
