import asyncio

import pytest

from finereason.models.hf import load, reasoning_of, restore_prefilled_think
from finereason.models.types import Model, ModelError, SamplingParams

GREEDY = SamplingParams(max_tokens=6, temperature=0)


def user(text):
    return [{"role": "user", "content": text}]


def with_image(image, text="Describe."):
    return [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]


def count_generate_calls(model, monkeypatch):
    calls = []
    original = model.generate

    def spy(requests):
        calls.append(len(requests))
        return original(requests)

    monkeypatch.setattr(model, "generate", spy)
    return calls


def test_is_a_model(tiny_models):
    assert isinstance(tiny_models["lm"], Model)
    assert tiny_models["lm"].accepts_images is False
    assert tiny_models["idefics3"].accepts_images is True


def test_concurrent_requests_share_one_batch(tiny_models, monkeypatch):
    model = tiny_models["lm"]
    calls = count_generate_calls(model, monkeypatch)

    async def run():
        return await asyncio.gather(*(model.complete(user(f"question {i}"), GREEDY) for i in range(5)))

    results = asyncio.run(run())
    assert calls == [5]
    assert all(len(r) == 1 and r[0].prompt_tokens > 0 for r in results)


def test_different_settings_and_seeded_sampling_run_apart(tiny_models, monkeypatch):
    model = tiny_models["lm"]
    calls = count_generate_calls(model, monkeypatch)
    sampled = SamplingParams(max_tokens=4, temperature=1.0, seed=7)

    async def run():
        return await asyncio.gather(
            model.complete(user("a"), GREEDY),
            model.complete(user("b"), GREEDY),
            model.complete(user("c"), SamplingParams(max_tokens=3, temperature=0)),
            model.complete(user("d"), sampled),
            model.complete(user("e"), sampled),
        )

    asyncio.run(run())
    assert sorted(calls) == [1, 1, 1, 2]


def test_n_samples_seed_and_greedy(tiny_models):
    model = tiny_models["lm"]
    sampled = SamplingParams(max_tokens=8, temperature=1.0, n=3, seed=11)
    first = asyncio.run(model.complete(user("Tell me"), sampled))
    again = asyncio.run(model.complete(user("Tell me"), sampled))
    assert len(first) == 3
    assert [c.text for c in first] == [c.text for c in again]
    other = asyncio.run(model.complete(user("Tell me"), SamplingParams(max_tokens=8, temperature=1.0, n=3, seed=12)))
    assert [c.text for c in other] != [c.text for c in first]
    greedy = asyncio.run(model.complete(user("Tell me"), SamplingParams(max_tokens=8, temperature=0, n=2)))
    assert len(greedy) == 2 and greedy[0] == greedy[1]


def test_length_finish_and_token_counts(tiny_models):
    [c] = asyncio.run(tiny_models["lm"].complete(user("Count"), SamplingParams(max_tokens=5, temperature=0)))
    assert c.finish_reason == "length" and c.truncated and c.completion_tokens == 5
    assert c.prompt_tokens == len(
        tiny_models["lm"].tokenizer(
            tiny_models["lm"].tokenizer.apply_chat_template(user("Count"), add_generation_prompt=True, tokenize=False),
            add_special_tokens=False,
        )["input_ids"]
    )


def test_stop_string_cuts_text(tiny_models):
    model = tiny_models["lm"]
    [full] = model.generate([(user("Go"), SamplingParams(max_tokens=12, temperature=0))])[0]
    stop = next(full.text[i : i + 3] for i in range(2, len(full.text) - 3) if full.text[i : i + 3].isalpha())
    [cut] = model.generate([(user("Go"), SamplingParams(max_tokens=12, temperature=0, stop=(stop,)))])[0]
    assert cut.text == full.text[: full.text.find(stop)] and cut.finish_reason == "stop"


def test_think_tags_survive_decoding(tiny_models):
    model = tiny_models["lm"]
    tok = model.tokenizer
    ids = tok("<think>step one</think>The answer is 4.", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    completion = model._completion(ids, "prompt", 3, GREEDY)
    assert completion.text == "<think>step one</think>The answer is 4."
    assert completion.reasoning == "step one" and completion.finish_reason == "stop"
    assert completion.completion_tokens == len(ids)


def test_prefilled_think_is_restored():
    assert restore_prefilled_think("<|im_start|>assistant\n<think>\n", "plan</think>A") == "<think>\nplan</think>A"
    assert restore_prefilled_think("<|im_start|>assistant\n", "A") == "A"
    assert reasoning_of("<think> x </think>y") == "x"
    assert reasoning_of("<think> unfinished") is None


def test_text_only_model_rejects_images(tiny_models, png):
    with pytest.raises(ModelError, match="images_unsupported"):
        asyncio.run(tiny_models["lm"].complete(with_image(png()), GREEDY))


def test_a_bad_request_fails_alone(tiny_models, png):
    model = tiny_models["qwen2_vl"]

    async def run():
        return await asyncio.gather(
            model.complete(with_image(png()), GREEDY),
            model.complete(with_image(b"not an image"), GREEDY),
            return_exceptions=True,
        )

    good, bad = asyncio.run(run())
    assert isinstance(good, list) and good[0].completion_tokens > 0
    assert isinstance(bad, ModelError) and bad.reason == "bad_image"


def test_unhashable_extra_is_a_clear_error(tiny_models):
    params = SamplingParams(max_tokens=2, temperature=0, extra=(("chat_template_kwargs", {"x": 1}),))
    with pytest.raises(ModelError, match="hashable"):
        asyncio.run(tiny_models["lm"].complete(user("x"), params))


def test_generation_extras_are_checked(tiny_models):
    ok = SamplingParams(max_tokens=3, temperature=0, extra=(("repetition_penalty", 1.05),))
    assert asyncio.run(tiny_models["lm"].complete(user("x"), ok))[0].completion_tokens > 0
    bad = SamplingParams(max_tokens=3, temperature=0, extra=(("no_such_setting", 1),))
    with pytest.raises(ModelError, match="no_such_setting"):
        asyncio.run(tiny_models["lm"].complete(user("x"), bad))


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ModelError, match="does-not-exist"):
        load(f"hf:{tmp_path}/does-not-exist")


def test_works_across_event_loops(tiny_models):
    """Stages may call asyncio.run repeatedly; batching state must not leak between loops."""
    for _ in range(2):
        assert asyncio.run(tiny_models["lm"].complete(user("again"), GREEDY))[0].completion_tokens > 0
