"""How many students a machine can serve: measures read from ``/proc`` and the pure decisions
made from them (admission, pool refill, a capacity estimate), so they can be checked by hand.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

#: Memory one student's kernel holds once the dashboard is drawn (proportional set size, shared
#: libraries split between kernels); measured on the shipped model, 340-410 MiB, rounded up.
KERNEL_MIB = 450.0
#: CPU-seconds one kernel needs to start and draw the dashboard (TensorFlow import, model, data,
#: first forward pass), as measured on a 2-core machine.
KERNEL_CPU_SECONDS = 4.0
#: Memory kept free for the server, the operating system and whatever else runs beside it.
RESERVE_MIB = 1024.0


# --------------------------------------------------------------------------- measuring the machine

def mem_available_mib(meminfo: str | None = None) -> float:
    """``MemAvailable`` of ``/proc/meminfo`` (or of the given text) in MiB."""
    text = Path("/proc/meminfo").read_text() if meminfo is None else meminfo
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError("no MemAvailable line in /proc/meminfo")


def pss_mib(pid: int) -> float:
    """Proportional set size of process ``pid`` in MiB, from ``/proc/<pid>/smaps_rollup``."""
    for line in (Path("/proc") / str(pid) / "smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError(f"no Pss line for process {pid}")


def rss_mib(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB, from ``/proc/<pid>/status``."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError(f"no VmRSS line for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used, in seconds (``/proc/<pid>/stat``)."""
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    # The command name is in parentheses and may hold spaces; utime and stime are the 12th and
    # 13th fields after it.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """How busy the whole machine was over the last ``window`` seconds, from ``/proc/stat``.

    Call :meth:`sample` regularly (every second or so); :meth:`busy` is then the fraction of all
    cores' time spent working (0 = idle, 1 = every core busy) between the oldest sample still
    inside the window and the newest.

    >>> meter = CpuMeter(window=5)
    >>> meter.sample(); 0.0 <= meter.busy() <= 1.0
    True
    """

    def __init__(self, window: float = 5.0, read=None):
        self.window = window
        self._read = read or self._read_proc_stat
        self._samples: deque = deque()

    @staticmethod
    def _read_proc_stat() -> tuple:
        """(busy jiffies, total jiffies) over all cores since boot."""
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields) - idle, sum(fields)

    def sample(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        busy, total = self._read()
        self._samples.append((now, busy, total))
        # Keep one sample at or before the window's start, so the window is always covered.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def busy(self) -> float:
        """Fraction of the machine busy over the window; 1.0 until two samples exist (unknown
        counts as busy, so nothing starts on a guess)."""
        if len(self._samples) < 2:
            return 1.0
        (_, b0, t0), (_, b1, t1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 1.0


# --------------------------------------------------------------------------- the decisions

@dataclass(frozen=True)
class Decision:
    """A yes or no with the reason, for the log."""

    ok: bool
    reason: str


def admit(kernels: int, young: int, mem_available: float, *, kernel_mib: float = KERNEL_MIB,
          reserve_mib: float = RESERVE_MIB, max_kernels: int = 0, max_starting: int = 0) -> Decision:
    """May one more kernel start now?

    ``kernels`` are running, ``young`` of them started so recently that they have not grown to
    their full size yet (their memory is still to come out of ``mem_available``, in MiB).
    ``max_kernels`` caps the kernels (0: memory alone decides); ``max_starting`` caps the young
    ones, whose start shares the CPU (0: no cap).

    >>> admit(kernels=3, young=1, mem_available=2000, kernel_mib=400, reserve_mib=1000).ok
    True
    >>> admit(kernels=3, young=2, mem_available=2000, kernel_mib=400, reserve_mib=1000).reason
    'memory: 2000 MiB available, 800 MiB promised to kernels still starting, 1000 MiB kept free'
    """
    if max_kernels and kernels >= max_kernels:
        return Decision(False, f"{kernels} kernels running, the limit is {max_kernels}")
    if max_starting and young >= max_starting:
        return Decision(False, f"{young} kernels starting at once, the limit is {max_starting}")
    promised = young * kernel_mib
    if mem_available - promised - reserve_mib < kernel_mib:
        return Decision(False, f"memory: {mem_available:.0f} MiB available, {promised:.0f} MiB promised to "
                               f"kernels still starting, {reserve_mib:.0f} MiB kept free")
    return Decision(True, "room for one more")


def refill_decision(pool: int, target: int, starting: int, busy: float, mem_available: float, *,
                    kernel_mib: float = KERNEL_MIB, reserve_mib: float = RESERVE_MIB,
                    max_starting: int = 1, idle_below: float = 0.25) -> Decision:
    """Should the classroom pool start one more warm kernel now?

    ``pool`` kernels are warm and waiting, ``starting`` more are on their way, ``target`` is the
    pool's size. ``busy`` is the fraction of the machine's CPU in use lately (:class:`CpuMeter`):
    a refill only starts below ``idle_below``, so it never takes CPU from students at work.
    ``max_starting`` is 1 during a lesson (one kernel at a time); the first fill, before any
    student arrives, may start one per core and ignores ``busy``, pass ``idle_below=1.0`` for it.

    >>> refill_decision(pool=3, target=5, starting=0, busy=0.1, mem_available=8000).ok
    True
    >>> refill_decision(pool=3, target=5, starting=0, busy=0.6, mem_available=8000).reason
    'machine busy: 60 % of the CPU in use, refills wait below 25 %'
    """
    if pool + starting >= target:
        return Decision(False, "pool full")
    if starting >= max_starting:
        return Decision(False, f"{starting} kernel(s) already starting")
    if busy >= idle_below:
        return Decision(False, f"machine busy: {busy:.0%} of the CPU in use, refills wait below "
                               f"{idle_below:.0%}".replace("%", " %"))
    if mem_available - starting * kernel_mib - reserve_mib < kernel_mib:
        return Decision(False, f"memory budget: {mem_available:.0f} MiB available, {reserve_mib:.0f} MiB "
                               f"kept free, a kernel needs {kernel_mib:.0f} MiB")
    return Decision(True, "idle, memory allows")


@dataclass(frozen=True)
class Capacity:
    """What one machine can hold; see :func:`capacity_estimate`."""

    cores: int
    mem_available_mib: float
    kernel_mib: float
    kernel_cpu_s: float
    #: Students the memory holds, the kernels already running included.
    students_by_memory: int
    #: Seconds of the whole machine's CPU a class of ``students`` needs to start cold.
    cold_class_s: float
    students: int

    def lines(self) -> list:
        """The estimate as sentences for the instructor."""
        return [
            f"this machine: {self.cores} cores, {self.mem_available_mib / 1024:.1f} GiB of memory available",
            f"one student costs {self.kernel_mib:.0f} MiB (PSS) and {self.kernel_cpu_s:.1f} CPU-seconds "
            f"to start (median of the warm kernels)",
            f"memory holds about {self.students_by_memory} students; {self.students} arriving at once without "
            f"warm kernels would wait about {self.cold_class_s:.0f} s (warm kernels: at once)",
        ]


def capacity_estimate(cores: int, mem_available: float, kernels_running: int, kernel_mib: float,
                      kernel_cpu_s: float, students: int, reserve_mib: float = RESERVE_MIB) -> Capacity:
    """How many students this machine holds, from measured figures.

    ``mem_available`` (MiB) is measured with ``kernels_running`` kernels already started, so they
    count as students held. A class of ``students`` starting cold shares ``cores``: the last one
    waits for all of their ``kernel_cpu_s``.

    >>> capacity_estimate(2, 9216, 2, 400, 4.0, 10).students_by_memory   # 2 + (9216 - 1024) // 400
    22
    """
    spare = max(mem_available - reserve_mib, 0.0)
    return Capacity(
        cores=cores, mem_available_mib=mem_available, kernel_mib=kernel_mib, kernel_cpu_s=kernel_cpu_s,
        students_by_memory=kernels_running + int(spare // kernel_mib),
        cold_class_s=students * kernel_cpu_s / cores, students=students,
    )


# --------------------------------------------------------------------------- the kernel managers
