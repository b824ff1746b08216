"""Where a benchmark's CPU went, by group of processes (Linux /proc): sample before and after a
run, then divide the difference by the operations the run made. The booking and vouchers
benchmarks report their CPU per operation this way."""

from __future__ import annotations

import os
from collections.abc import Callable

Sample = dict[int, tuple[str, float]]  # pid -> (group, CPU seconds used so far)


def cpu_seconds(pid: str = "self") -> tuple[float, float]:
    """(own, reaped children's) user + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = [int(v) for v in f.read().rsplit(")", 1)[1].split()[11:15]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1]) / tick, (fields[2] + fields[3]) / tick


def processes_cpu(group_of: Callable[[int, str], str | None]) -> Sample:
    """The CPU seconds used so far by every other process on the machine that `group_of`
    (given its pid and command line) puts in a group."""
    found: Sample = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            used = cpu_seconds(pid)[0]
        except OSError:
            continue  # exited meanwhile
        group = group_of(int(pid), command)
        if group:
            found[int(pid)] = (group, used)
    return found


def cpu_us_per_operation(before: Sample, after: Sample, operations: int) -> dict[str, int]:
    """Microseconds of CPU per operation by group, summed per process over the processes alive
    at the end (one that ended meanwhile is not subtracted — on a shared machine other
    people's connections come and go; one that started counts from zero)."""
    groups: dict[str, float] = {}
    for pid, (group, used) in after.items():
        previous = before.get(pid)
        groups[group] = groups.get(group, 0.0) + used - (previous[1] if previous else 0.0)
    return {group: round(seconds * 1e6 / operations)
            for group, seconds in sorted(groups.items()) if seconds > 0}


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: user, nice, system, irq and
    softirq; idle, I/O wait and steal left out): a run's cost to the whole machine, the
    broker's and the database's included."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in
                                                           f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
