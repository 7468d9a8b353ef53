"""Traffic scenarios in genai-bench syntax.

``D(in,out)``                       deterministic lengths
``N(mean_in,sd_in)/(mean_out,sd_out)`` normal lengths (clipped to >= 1)
``U(min_in,max_in)/(min_out,max_out)`` uniform lengths
``P(prefix,suffix)/out``            a shared prefix of ``prefix`` tokens, a unique suffix
``E(tokens)``                       embedding-style: input only, one output token
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_NUM = r"\s*(\d+(?:\.\d+)?)\s*"
_PATTERNS = {
    "D": re.compile(rf"^D\({_NUM},{_NUM}\)$"),
    "N": re.compile(rf"^N\({_NUM},{_NUM}\)/\({_NUM},{_NUM}\)$"),
    "U": re.compile(rf"^U\({_NUM},{_NUM}\)/\({_NUM},{_NUM}\)$"),
    "P": re.compile(rf"^P\({_NUM},{_NUM}\)/{_NUM}$"),
    "E": re.compile(rf"^E\({_NUM}\)$"),
}
SCENARIO_FORMS = "D(in,out), N(mean_in,sd_in)/(mean_out,sd_out), U(min_in,max_in)/(min_out,max_out), P(prefix,suffix)/out, E(tokens)"


@dataclass(frozen=True)
class RequestShape:
    """Token lengths of one request. ``prefix_tokens`` of the input are shared across requests."""

    input_tokens: int
    output_tokens: int
    prefix_tokens: int = 0


@dataclass(frozen=True)
class Scenario:
    text: str
    kind: str
    args: tuple[float, ...]

    def sample(self, rng: random.Random) -> RequestShape:
        a = self.args
        if self.kind == "D":
            return RequestShape(int(a[0]), int(a[1]))
        if self.kind == "N":
            return RequestShape(_clip(rng.gauss(a[0], a[1])), _clip(rng.gauss(a[2], a[3])))
        if self.kind == "U":
            return RequestShape(rng.randint(int(a[0]), int(a[1])), rng.randint(int(a[2]), int(a[3])))
        if self.kind == "P":
            prefix, suffix = int(a[0]), int(a[1])
            return RequestShape(prefix + suffix, int(a[2]), prefix_tokens=prefix)
        return RequestShape(int(a[0]), 1)  # E

    @property
    def mean_input(self) -> float:
        a = self.args
        return {"D": a[0], "N": a[0], "U": (a[0] + a[1]) / 2, "P": a[0] + a[1], "E": a[0]}[self.kind]

    @property
    def mean_output(self) -> float:
        a = self.args
        return {"D": a[1], "N": a[2], "U": (a[2] + a[3]) / 2, "P": a[2], "E": 1}[self.kind]


def _clip(x: float) -> int:
    return max(1, int(round(x)))


def parse_scenario(text: str) -> Scenario:
    """Parse one scenario string; raises ``ValueError`` naming the accepted forms."""
    cleaned = text.strip()
    for kind, pattern in _PATTERNS.items():
        m = pattern.match(cleaned)
        if m:
            args = tuple(float(g) for g in m.groups())
            if any(x < 0 for x in args) or (kind != "P" and args[0] <= 0):
                raise ValueError(f"scenario {text!r}: lengths must be positive")
            if kind == "U" and (args[0] > args[1] or args[2] > args[3]):
                raise ValueError(f"scenario {text!r}: min must not exceed max")
            return Scenario(cleaned, kind, args)
    raise ValueError(f"scenario {text!r} is not one of: {SCENARIO_FORMS}")
