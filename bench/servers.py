"""What bench/run.py reads about the servers it runs: CPU time and memory of a process group
(a server started in a session of its own: its master and workers), from /proc."""

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return text[text.rfind(")") + 2 :].split()  # after "pid (name) ": state, ppid, pgrp, ...


def group(leader: int) -> list[int]:
    """The processes of `leader`'s process group: the server and its workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == leader:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(leaders: list[int]) -> float:
    """User plus system CPU time used so far by the groups of these leaders."""
    total = 0
    for leader in leaders:
        for pid in group(leader):
            fields = _stat(pid)
            if fields is not None:
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers_rss(leader: int) -> list[float]:
    """The resident memory (MB) of each worker of the group, its master left out."""
    return sorted(rss_mb(pid) for pid in group(leader) if pid != leader)
