"""Front-end timing shared by the real-time server and the virtual-time replay, so both agree."""

from __future__ import annotations

# Virtual time only (in real time they are what they are): request sent -> seen by the scheduler (HTTP,
# parsing, tokenizing), and token computed -> seen by the client (detokenizing, SSE, HTTP).
CLIENT_LATENCY_S = 0.0015
DELIVERY_LATENCY_S = 0.001
IDLE_POLL_S = 0.002  # an idle engine picks up new requests this long after the first arrives


def stream_chunk_boundary(index: int, max_tokens: int, interval: int) -> bool:
    """Whether output token ``index`` ends a streamed chunk (``--stream-interval``; the first token goes at once)."""
    return interval == 1 or index == 0 or (index + 1) % interval == 0 or index + 1 == max_tokens
