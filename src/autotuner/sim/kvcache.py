"""The KV-cache pool of one replica, in tokens, with a prefix cache of hashed blocks.

Tokens are either *private* (one request's own KV) or in *cached blocks*: ``block_size`` prompt tokens
identified by a chained hash (the hash of a block stands for the whole prefix up to its end), shared
by every request whose prompt starts the same way. A cached block is pinned while requests use it;
unpinned blocks stay in the pool, reusable, until space is needed: then the least recently used go
first (a sequence's deeper blocks before its first ones, so a prefix is never cut in the middle).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence


class KVPool:
    def __init__(self, capacity_tokens: int, block_size: int = 16, caching: bool = True):
        if capacity_tokens < 1 or block_size < 1:
            raise ValueError("KVPool: capacity_tokens and block_size must be >= 1")
        self.capacity = capacity_tokens
        self.block_size = block_size
        self.caching = caching
        self.private = 0
        self.refs: dict[Hashable, int] = {}
        self.unpinned: OrderedDict[Hashable, None] = OrderedDict()  # least recently used first
        self.evictions = 0

    @property
    def cached_tokens(self) -> int:
        return len(self.refs) * self.block_size

    @property
    def used(self) -> int:
        """Tokens held: private ones and every cached block (pinned or not)."""
        return self.private + self.cached_tokens

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def available(self) -> int:
        """Tokens an allocation could get: free ones plus unpinned cached blocks it may evict."""
        return self.free + len(self.unpinned) * self.block_size

    @property
    def active(self) -> int:
        """Tokens requests are using now (private and pinned), excluding reusable leftovers."""
        return self.used - len(self.unpinned) * self.block_size

    def match(self, hashes: Sequence[Hashable], limit: int | None = None) -> int:
        """How many leading blocks of ``hashes`` (at most ``limit``) are cached."""
        if not self.caching:
            return 0
        refs, n = self.refs, 0
        for h in hashes if limit is None else hashes[:limit]:
            if h not in refs:
                break
            n += 1
        return n

    def pin(self, hashes: Sequence[Hashable]) -> None:
        refs, unpinned = self.refs, self.unpinned
        for h in hashes:
            count = refs[h]
            if count == 0:
                del unpinned[h]
            refs[h] = count + 1

    def unpin(self, hashes: Sequence[Hashable]) -> None:
        refs, unpinned = self.refs, self.unpinned
        for h in reversed(hashes):  # the first block becomes the most recently used
            count = refs[h] - 1
            refs[h] = count
            if count == 0:
                unpinned[h] = None
                unpinned.move_to_end(h)

    def allocate(self, tokens: int) -> bool:
        """Take ``tokens`` private tokens, evicting unpinned blocks if needed; False if they do not fit."""
        if tokens > self.free:
            if tokens > self.available:
                return False
            self._evict(tokens - self.free)
        self.private += tokens
        return True

    def release(self, tokens: int) -> None:
        self.private -= tokens

    def publish(self, h: Hashable) -> bool:
        """Turn one block of a request's private tokens into the cached block ``h``, pinned by it.

        Returns False (and changes nothing) when caching is off."""
        if not self.caching:
            return False
        self.private -= self.block_size
        if h in self.refs:
            self.pin((h,))  # computed twice concurrently: keep one copy
        else:
            self.refs[h] = 1
        return True

    def _evict(self, tokens: int) -> None:
        need_blocks = -(-tokens // self.block_size)
        for _ in range(need_blocks):
            h, _ = self.unpinned.popitem(last=False)
            del self.refs[h]
            self.evictions += 1

    def clear_unpinned(self) -> None:
        while self.unpinned:
            h, _ = self.unpinned.popitem(last=False)
            del self.refs[h]
