"""Prompts for the benchmark: synthetic ones of an exact length, or lines of a JSONL dataset.

Token convention: ONE TOKEN = ONE WHITESPACE-SEPARATED WORD. The words are common short English
words so that real BPE tokenizers also see about one token per word.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

from ..spec.scenarios import RequestShape, Scenario, parse_scenario

# Each is a single token (with its leading space) in the common BPE vocabularies.
WORDS = tuple("""
the of and to in is it you that he was for on are as with his they at be this have from or one had
by word but not what all were we when your can said there use an each which she do how their if
will up other about out many then them these so some her would make like him into time has look
two more write go see number no way could people my than first water been call who oil its now
find long down day did get come made may part over new sound take only little work know place
year live me back give most very after thing our just name good man think say great where help
through much before line right too mean old any same tell boy follow came want show also around
form three small set put end does another well large must big even such because turn here why ask
went men read need land different home us move try kind hand picture again change off play spell
air away animal house point page letter mother answer found study still learn should world high
every near add food between own below country plant last school father keep tree never start city
earth eye light thought head under story saw left few while along might close something seem next
hard open example begin life always those both paper together got group often run important until
children side feet car mile night walk white sea began grow took river four carry state once book
hear stop without second later miss idea enough eat face watch far really almost let above girl
sometimes mountain cut young talk soon list song being leave family
""".split())


def words_of(text: str) -> int:
    return len(text.split())


@functools.lru_cache(maxsize=64)
def _prefix_words(scenario_key: str, n: int) -> tuple[str, ...]:
    # Derived from the scenario only, so every request of a P() scenario shares it (prefix caching).
    rng = random.Random(f"prefix:{scenario_key}")
    return tuple(rng.choice(WORDS) for _ in range(n))


def synthetic_prompt(shape: RequestShape, rng: random.Random, scenario_key: str) -> str:
    """Exactly ``shape.input_tokens`` words; the first ``shape.prefix_tokens`` are fixed by ``scenario_key``."""
    prefix = min(shape.prefix_tokens, shape.input_tokens)
    words = list(_prefix_words(scenario_key, prefix)) if prefix > 0 else []
    # ``choices`` draws all words in one call: several times cheaper per request than ``choice``.
    words += rng.choices(WORDS, k=shape.input_tokens - prefix)
    return " ".join(words)


# --- datasets -------------------------------------------------------------------------------------

Prompt = str | list[dict[str, Any]]  # a completion prompt or chat messages


def message_text(messages: list[dict[str, Any]]) -> str:
    """The text of all message contents (string contents or OpenAI ``{"type": "text"}`` parts)."""
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(parts)


def prompt_words(prompt: Prompt) -> int:
    return words_of(prompt if isinstance(prompt, str) else message_text(prompt))


def load_dataset(path: str | Path) -> list[dict]:
    """Read a JSONL file of ``{"prompt": str, "output_tokens"?: int}`` or ``{"messages": [...], ...}`` lines.

    Raises ``ValueError`` naming the file and line of the first bad line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ValueError(f"dataset {path}: cannot read: {e.strerror or e}") from e
    items: list[dict] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"dataset {path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: invalid JSON: {e.msg}") from e
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a JSON object with 'prompt' or 'messages'")
        messages = item.get("messages")
        chat = isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
        if not isinstance(item.get("prompt"), str) and not chat:
            raise ValueError(f"{where}: needs 'prompt' (a string) or 'messages' (a list of objects)")
        out = item.get("output_tokens")
        if out is not None and (not isinstance(out, int) or isinstance(out, bool) or out < 1):
            raise ValueError(f"{where}: 'output_tokens' must be an integer >= 1, got {out!r}")
        items.append(item)
    if not items:
        raise ValueError(f"dataset {path}: no prompts")
    return items


class PromptSource:
    """The requests of one load level, in the order they are sent: ``next() -> (prompt, shape)``.

    Each request draws its shape from ``shape_rng`` (the contract the simulator replays), even in
    dataset mode, where the line's text fixes the input length and its ``output_tokens`` (if any)
    overrides the sampled output length. Dataset lines are cycled from a per-level start offset.
    """

    def __init__(self, scenario: str | Scenario, shape_rng: random.Random, prompt_rng: random.Random,
                 dataset: list[dict] | None = None):
        self.scenario = parse_scenario(scenario) if isinstance(scenario, str) else scenario
        self.key = scenario if isinstance(scenario, str) else scenario.text  # as written in the workload
        self.shape_rng, self.prompt_rng, self.dataset = shape_rng, prompt_rng, dataset
        self._cursor = prompt_rng.randrange(len(dataset)) if dataset else 0

    def next(self) -> tuple[Prompt, RequestShape]:
        shape = self.scenario.sample(self.shape_rng)
        if not self.dataset:
            return synthetic_prompt(shape, self.prompt_rng, self.key), shape
        item = self.dataset[self._cursor % len(self.dataset)]
        self._cursor += 1
        prompt: Prompt = item["prompt"] if isinstance(item.get("prompt"), str) else item["messages"]
        output = item.get("output_tokens") or shape.output_tokens
        return prompt, RequestShape(prompt_words(prompt), output)
