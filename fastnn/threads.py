"""Thread count for numba's parallel kernels, set and restored explicitly."""
import contextlib

import numba


@contextlib.contextmanager
def num_threads(n=None):
    """Run the block with ``numba.set_num_threads(n)``; None keeps the current count."""
    old = numba.get_num_threads()
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"threads: expected an integer in [1, {numba.config.NUMBA_NUM_THREADS}], got {n!r}")
        numba.set_num_threads(n)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(old)
