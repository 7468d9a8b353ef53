"""``autotuner sim --help``: what the simulated engine is, then every flag it takes.

The simulator parses the real engine's flags with its own argparse parsers (built without ``--help``,
as the engines' flags are passed through untouched); their option lists are the help.
"""

from __future__ import annotations

from ..sim.config import PERSONALITIES, sglang_parser, vllm_parser

_PARSERS = {"sglang": sglang_parser, "vllm": vllm_parser}


def wants_help(args: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in args)


def sim_help(args: list[str]) -> str:
    """The help of the personality named in ``args`` (``--personality vllm``), SGLang's by default."""
    from ..sim import cli as sim_cli

    personality = next((b for a, b in zip(args, args[1:]) if a == "--personality"),
                       next((a.split("=", 1)[1] for a in args if a.startswith("--personality=")), "sglang"))
    parser = _PARSERS.get(personality, sglang_parser)()
    parser.prog = "autotuner sim"
    others = ", ".join(p for p in PERSONALITIES if p != personality)
    return "\n\n".join([
        (sim_cli.__doc__ or "").strip(),
        f"Flags of the {personality} personality (the engine's own names; "
        f"`autotuner sim --personality {others} --help` for the others):",
        parser.format_help().rstrip(),
    ])
