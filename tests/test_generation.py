"""npo_lab.generation: the key/value-cache greedy loop and the draft prefixes give model.generate's tokens."""

from __future__ import annotations

import pytest
import torch

from npo_lab.generation import draft_prefix, greedy_generate, greedy_generate_reference
from npo_lab.minitofu import tiny_llama, train_tokenizer
from npo_lab.scoring import encode_prompts, score_answers
from npo_lab.tofu.data import QACollator

ROWS = [
    {"question": f"What does {n} write?", "answer": f"{n} writes {g} novels about {c} in winter."}
    for n, g, c in [
        ("Ada", "mystery", "Oslo"),
        ("Bo", "poetry", "Lima"),
        ("Cyr", "horror", "Cairo"),
        ("Dot", "satire", "Quito"),
        ("Eli", "fantasy", "Rome"),
        ("Fay", "history", "Paris"),
    ]
]


@pytest.fixture(scope="module")
def lm():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in ROWS] * 5, vocab_size=300)
    model = tiny_llama(tok, hidden_size=32, num_layers=2, num_heads=2, seed=0)
    batch = QACollator(tok)(ROWS[:3])  # memorise the first three answers only
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    yield model.eval(), tok
    torch.set_num_threads(n)


def test_draft_prefix():
    eos = 2
    assert draft_prefix([([5, 6, 2], [5, 6, 2])], eos) == ([5, 6], True)  # the answer is the greedy answer
    assert draft_prefix([([5, 6, 7, 2], [5, 9, 4, 4])], eos) == ([5, 9], False)  # up to the first disagreement
    assert draft_prefix([([5, 6, 7, 2], [5, 2, 7, 2])], eos) == ([5], True)  # greedy stops early
    assert draft_prefix([([5, 6, 2], [5, 6, 8])], eos) == ([5, 6, 8], False)  # greedy goes on past the answer
    longest = draft_prefix([([5, 2], [7, 7]), ([5, 6, 7, 2], [5, 6, 4, 4])], [eos, 3])
    assert longest == ([5, 6, 4], False)
    assert draft_prefix([], eos) == ([], False)
    with pytest.raises(ValueError, match="eos_token_id"):
        draft_prefix([], [])


@pytest.mark.parametrize(("batch_size", "max_new_tokens"), [(1, 30), (4, 30), (64, 5)])
def test_greedy_generate_equals_model_generate(lm, batch_size, max_new_tokens):
    model, tok = lm
    prompts = encode_prompts(tok, [r["question"] for r in ROWS] + ["What does Zed write?"])
    kw = dict(max_new_tokens=max_new_tokens, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    ref = greedy_generate_reference(model, prompts, batch_size=4, **kw)
    new = greedy_generate(model, prompts, batch_size=batch_size, **kw)
    assert new == ref
    assert all(len(t) <= max_new_tokens and tok.eos_token_id not in t for t in new)
    if max_new_tokens == 30:  # memorised answers end with EOS before the limit; the others run on
        lengths = [len(t) for t in new]
        assert min(lengths) < max_new_tokens


def test_drafts_from_the_scoring_pass(lm):
    """Greedy tokens read off a scoring pass + decoding from the first disagreement = plain greedy decoding; the
    memorised answers need no decoding step at all."""
    model, tok = lm
    qa = [{"question": r["question"], "answer": a} for r in ROWS for a in (r["answer"], r["answer"][:12])]
    scores = score_answers(model, tok, qa, batch_size=5, greedy_ids=True)
    pairs = list(zip(scores.target_ids, scores.greedy_ids))
    prefixes = [draft_prefix(pairs[2 * i : 2 * i + 2], tok.eos_token_id) for i in range(len(ROWS))]
    finished = [done for _, done in prefixes]
    assert any(finished) and not all(finished), "the fixture should memorise some answers and not others"
    prompts = encode_prompts(tok, [r["question"] for r in ROWS])
    kw = dict(max_new_tokens=30, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, batch_size=4)
    ref = greedy_generate_reference(model, prompts, **kw)
    assert greedy_generate(model, prompts, prefixes=prefixes, **kw) == ref
    for (tokens, done), full in zip(prefixes, ref):
        assert full[: len(tokens)] == tokens and (not done or full == tokens)
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        done_only = [i for i, (_, done) in enumerate(prefixes) if done]
        out = greedy_generate(model, [prompts[i] for i in done_only], prefixes=[prefixes[i] for i in done_only], **kw)
    finally:
        handle.remove()
    assert calls == [] and out == [ref[i] for i in done_only]


def test_greedy_generate_restores_mode_and_checks_arguments(lm):
    model, tok = lm
    prompts = encode_prompts(tok, [ROWS[0]["question"]])
    model.train()
    try:
        greedy_generate(model, prompts, max_new_tokens=3, eos_token_id=tok.eos_token_id)
        assert model.training and torch.is_grad_enabled()
    finally:
        model.eval()
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_generate(model, prompts, max_new_tokens=0, eos_token_id=tok.eos_token_id)
    with pytest.raises(ValueError, match="batch_size"):
        greedy_generate(model, prompts, max_new_tokens=2, eos_token_id=tok.eos_token_id, batch_size=0)
    with pytest.raises(ValueError, match="prefixes"):
        greedy_generate(model, prompts, max_new_tokens=2, eos_token_id=tok.eos_token_id, prefixes=[])
