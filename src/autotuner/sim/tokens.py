"""Words as tokens: prompt block hashes for the prefix cache, and deterministic output words.

The simulator's tokenizer is ``str.split``: one whitespace-separated word is one token. A prompt's
full blocks of ``block_size`` words get chained hashes (each covers the whole prefix up to the end of
its block), so two prompts share cached blocks exactly as long as their leading words agree.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Hashable

OUTPUT_WORDS = (
    "the", "model", "said", "that", "each", "answer", "is", "a", "short", "word", "and", "then", "another",
    "one", "follows", "until", "limit", "of", "tokens", "was", "reached", "so", "stream", "goes", "on", "with",
    "more", "simple", "text", "from", "fixed", "list", "common", "words",
)


def block_hashes(words: list[str], block_size: int) -> list[int]:
    hashes: list[int] = []
    h = 0
    for start in range(0, len(words) - block_size + 1, block_size):
        h = hash((h, tuple(words[start:start + block_size])))
        hashes.append(h)
    return hashes


def synthetic_block_hashes(request_key: Hashable, prompt_len: int, shared_len: int, shared_key: Hashable,
                           block_size: int) -> list[Hashable]:
    """The block hashes of a prompt whose first ``shared_len`` words are the same for every prompt with
    ``shared_key`` and whose other words are unique to ``request_key`` (virtual time has no text)."""
    shared = min(shared_len, prompt_len) // block_size
    total = prompt_len // block_size
    return [("shared", shared_key, i) if i < shared else (request_key, i) for i in range(total)]


def output_words(prompt: str, seed: int, count: int) -> list[str]:
    """``count`` words that depend only on the prompt and the seed."""
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).hexdigest()[:16]
    rng = random.Random(f"{seed}:{digest}")
    return [rng.choice(OUTPUT_WORDS) for _ in range(count)]
