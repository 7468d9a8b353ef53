"""One level's records from several client processes, merged exactly, and the client's own CPU load.

The processes read the same monotonic clock (``time.perf_counter`` is ``CLOCK_MONOTONIC`` on Linux),
so their records compare as they are: the merge concatenates the raw per-request records and the
summary computes every percentile from the merged samples, never by averaging per-process figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from .metrics import RequestRecord

# A client process busy this share of its wall time may itself be what limits the level.
SATURATED_CPU = 0.9


def merge_records(parts: list[list[RequestRecord]]) -> list[RequestRecord]:
    """All records of all processes, in the order their requests started."""
    return sorted((r for part in parts for r in part), key=lambda r: r.start)


def window(records: list[RequestRecord]) -> float:
    """Seconds from the first request's start to the last one's end (0 without records)."""
    if not records:
        return 0.0
    return max(r.end for r in records) - min(r.start for r in records)


@dataclass
class ClientLoad:
    """CPU seconds over wall seconds of each client process during one level."""

    cpu_shares: list[float]

    @property
    def busiest(self) -> float:
        return max(self.cpu_shares, default=0.0)

    def warning(self) -> str | None:
        if self.busiest < SATURATED_CPU:
            return None
        processes = len(self.cpu_shares)
        where = "the client process" if processes == 1 else f"the busiest of {processes} client processes"
        advice = "; more client processes (--workers / benchmark.workers) or a less loaded machine" \
                 " give honest latencies"
        return (f"{where} was busy {self.busiest:.0%} of the level: the client, not the server, may limit "
                f"this level's throughput and inflate its latencies{advice}")


def cpu_share(cpu_seconds: float, wall_seconds: float) -> float:
    return cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0
