"""Peak resident memory of this process above its level at the start of a block."""

from __future__ import annotations

import os
import threading
import time


def resident_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident set size above the starting level, sampled every 50 ms in a thread."""

    def __enter__(self):
        self.start = resident_bytes()
        self.peak = self.start
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, resident_bytes())
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 2**20
