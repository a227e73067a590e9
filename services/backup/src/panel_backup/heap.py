"""Keep the process's resident memory close to what it actually holds.

glibc serves a large allocation with mmap and returns it to the kernel when freed, but only below a
threshold that it raises, by default, to the size of the largest block freed so far (up to 32 MiB).
After the first upload part is freed, every later part (8-16 MiB) comes from the heap instead, in one
arena per thread (the pipeline and the uploads run in several), and freed parts stay resident in those
heaps: measured, 161-175 MiB peak RSS instead of about 107 MiB for the same 300 MB upload. Fixing the
threshold at 1 MiB turns the adjustment off. Other C libraries (musl) have no mallopt: nothing to do.
"""

from __future__ import annotations

import contextlib

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 1 << 20


def return_large_buffers_to_the_kernel() -> bool:
    """Set glibc's mmap threshold once, at start-up; True when it took effect."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return False
