"""``whycam.keep_freed_memory``: glibc's malloc told to keep what is freed."""

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory():
    """Keeps the memory this process frees for its next use instead of handing it back to the
    operating system, as the command line does (it links mimalloc so told; an extension module
    cannot: mimalloc's thread-local storage would stop torch from loading after it). Batched
    convolutions allocate and free buffers of tens of megabytes per layer; glibc's malloc gives
    such blocks back at once, so each batch faults them in afresh. After this, blocks come from
    the heap and it is never trimmed: the process holds on to its peak memory. For a process
    that only explains (a Ray actor, a batch job); ``whycam.ray``'s actors call it. Returns
    whether it took effect (glibc only; elsewhere it does nothing)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # No block from mmap (which free hands back at once), and the heap's top never trimmed.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
