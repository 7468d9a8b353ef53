"""Synthetic prompts, datasets and the per-level request sequence."""

from __future__ import annotations

import json
import random

import pytest

from autotuner.bench.prompts import WORDS, PromptSource, load_dataset, prompt_words, synthetic_prompt
from autotuner.bench.seeds import prompt_rng, shape_rng
from autotuner.spec.scenarios import RequestShape, parse_scenario


@pytest.mark.parametrize("n", [1, 7, 128, 2048])
def test_synthetic_prompt_has_exactly_n_known_words(n):
    words = synthetic_prompt(RequestShape(n, 4), random.Random(1), "D(1,1)").split(" ")
    assert len(words) == n
    assert set(words) <= set(WORDS)


def test_shared_prefix_is_identical_and_suffixes_differ():
    scenario = parse_scenario("P(50,20)/8")
    rng, words = random.Random(3), random.Random(4)
    prompts = [synthetic_prompt(scenario.sample(rng), words, scenario.text).split() for _ in range(5)]
    assert all(len(p) == 70 for p in prompts)
    assert all(p[:50] == prompts[0][:50] for p in prompts)
    assert len({" ".join(p[50:]) for p in prompts}) == 5
    # The prefix depends on the scenario only, not on the random stream.
    other = synthetic_prompt(RequestShape(70, 8, 50), random.Random(99), "P(50,20)/8").split()
    assert other[:50] == prompts[0][:50]
    assert synthetic_prompt(RequestShape(70, 8, 50), random.Random(99), "P(50,20)/9").split()[:50] != other[:50]


def test_prompt_source_is_deterministic_for_a_seed_and_differs_across_seeds():
    def sequence(seed):
        source = PromptSource("U(5,50)/(1,30)", shape_rng(seed, "U(5,50)/(1,30)", 4, None),
                              prompt_rng(seed, "U(5,50)/(1,30)", 4, None))
        return [source.next() for _ in range(10)]

    first = sequence(0)
    assert first == sequence(0)
    assert first != sequence(1)
    for prompt, shape in first:
        assert prompt_words(prompt) == shape.input_tokens


def test_shapes_follow_the_level_rng_contract_whatever_the_prompt_words():
    # The simulator replays shapes from shape_rng alone: drawing prompt words must not shift them.
    scenario = parse_scenario("N(100,30)/(50,10)")
    rng = shape_rng(7, scenario.text, 8, None)
    expected = [scenario.sample(rng) for _ in range(12)]
    source = PromptSource(scenario.text, shape_rng(7, scenario.text, 8, None), prompt_rng(7, scenario.text, 8, None))
    assert [source.next()[1] for _ in range(12)] == expected


def test_load_dataset_reads_prompts_and_messages(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"prompt": "one two three", "output_tokens": 5}) + "\n\n"
                    + json.dumps({"messages": [{"role": "user", "content": "hello there"}]}) + "\n")
    items = load_dataset(path)
    assert [i.get("output_tokens") for i in items] == [5, None]


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "ok"', "line 2: invalid JSON"),
    ('["a"]', "line 2: expected a JSON object"),
    ('{"text": "x"}', "line 2: needs 'prompt'"),
    ('{"prompt": "x", "output_tokens": 0}', "line 2: 'output_tokens' must be an integer >= 1"),
])
def test_load_dataset_names_the_bad_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "fine"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_dataset(path)


def test_load_dataset_rejects_missing_and_empty_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_dataset(tmp_path / "absent.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no prompts"):
        load_dataset(tmp_path / "empty.jsonl")


def test_dataset_mode_cycles_lines_and_takes_their_output_lengths():
    dataset = [{"prompt": "a b c", "output_tokens": 7},
               {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi you"}]}]
    source = PromptSource("D(100,11)", random.Random(0), random.Random(0), dataset)
    got = [source.next() for _ in range(4)]
    by_kind = {isinstance(p, str): s for p, s in got}
    assert by_kind[True] == RequestShape(3, 7)
    assert by_kind[False] == RequestShape(4, 11)  # words of all messages; output from the scenario
    assert got[0][0] == got[2][0] and got[1][0] == got[3][0]
