"""npo_lab.scoring: batched no-grad scoring equals a naive per-row loop; masking, device, train mode."""

from __future__ import annotations

import pytest
import torch

from npo_lab.scoring import iter_forward, score_answers
from npo_lab.tofu.data import encode_qa

ROWS = [
    {"question": "Who wrote the red book?", "answer": "Ada wrote it in Oslo."},
    {"question": "Where was Bo born?", "answer": "Lima."},
    {"question": "What does Cyra love?", "answer": "Cyra loves the colour green and the city of Kyoto."},
    {"question": "Is Dov a poet?", "answer": "Yes, Dov is a poet.", "alt": "No."},
    {"question": "When?", "answer": "In the year of the red book, in Oslo, where Ada was born."},
]


@pytest.fixture(scope="module")
def tiny():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted(
        {
            w
            for r in ROWS
            for t in r.values()
            for w in t.replace("?", " ?").replace(".", " .").replace(",", " ,").split()
        }
        | {"Question:", "Answer:"}
    )
    vocab = {"<unk>": 0, "<pad>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(cfg).eval(), tok


def _naive(model, tok, row, answer_key="answer"):
    """One unpadded sequence at a time, float64 log-softmax, gathered by hand."""
    enc = encode_qa(tok, row["question"], row[answer_key], "qa", 256)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0]
    lp = torch.log_softmax(logits[:-1].double(), -1)
    target = torch.tensor(enc["labels"][1:])
    keep = target != -100
    tok_lp = lp[keep].gather(-1, target[keep].unsqueeze(-1)).squeeze(-1)
    return float(tok_lp.sum()), int(keep.sum()), tok_lp.float()


@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_score_answers_equals_per_row_loop(tiny, batch_size):
    model, tok = tiny
    res = score_answers(model, tok, ROWS, batch_size=batch_size, token_logps=True)
    assert res.logp.shape == (len(ROWS),) and res.logp.dtype == torch.float32 and res.logp.device.type == "cpu"
    assert res.n_tokens.dtype == torch.long
    for i, row in enumerate(ROWS):
        logp, n, tok_lp = _naive(model, tok, row)
        assert res.logp[i].item() == pytest.approx(logp, abs=1e-4)
        assert res.n_tokens[i].item() == n
        assert torch.allclose(res.token_logps[i], tok_lp, atol=1e-5)
    assert torch.allclose(res.probability(), torch.exp(res.logp / res.n_tokens))


def test_masking_prompt_and_padding(tiny):
    """The prompt and the padding never count: a row scores the same alone and next to a longer row, and its
    token count is its answer length + EOS."""
    model, tok = tiny
    alone = score_answers(model, tok, ROWS[1:2]).logp
    padded = score_answers(model, tok, [ROWS[1], ROWS[4]], batch_size=2).logp
    assert padded[0].item() == pytest.approx(alone[0].item(), abs=1e-5)
    n_answer = len(tok(ROWS[1]["answer"], add_special_tokens=False)["input_ids"])
    assert score_answers(model, tok, ROWS[1:2]).n_tokens.item() == n_answer + 1
    # another answer column, same question
    alt = score_answers(model, tok, ROWS[3:4], answer_key="alt")
    assert alt.logp.item() == pytest.approx(_naive(model, tok, ROWS[3], "alt")[0], abs=1e-4)


def test_restores_train_mode_and_needs_no_grad(tiny):
    model, tok = tiny
    model.train()
    try:
        res = score_answers(model, tok, ROWS[:2])
        assert model.training and not res.logp.requires_grad
        model.eval()
        score_answers(model, tok, ROWS[:2])
        assert not model.training
        model.train()
        gen = iter_forward(model, tok, ROWS, batch_size=2)
        _, logits = next(gen)
        assert not model.training and not logits.requires_grad
        gen.close()
        assert model.training
        assert torch.is_grad_enabled()
    finally:
        model.eval()


def test_device_and_context(tiny):
    model, tok = tiny
    entered = []

    class Ctx:
        def __enter__(self):
            entered.append(1)

        def __exit__(self, *exc):
            return False

    batches = list(iter_forward(model, tok, ROWS, batch_size=2, device="cpu", context=Ctx))
    assert len(batches) == 3 and len(entered) == 3
    assert [b["input_ids"].shape[0] for b, _ in batches] == [2, 2, 1]
    assert all(b["labels"].device.type == "cpu" and logits.shape[:2] == b["input_ids"].shape for b, logits in batches)
    if torch.cuda.is_available():  # pragma: no cover - GPU machines only
        res = score_answers(model.cuda(), tok, ROWS)
        model.cpu()
        assert res.logp.device.type == "cpu"
        assert torch.allclose(res.logp, score_answers(model, tok, ROWS).logp, atol=1e-3)


def test_bad_input(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="rows is empty"):
        score_answers(model, tok, [])
    with pytest.raises(ValueError, match=r"rows\[1\].*'answer'"):
        score_answers(model, tok, [ROWS[0], {"question": "q"}])
    with pytest.raises(ValueError, match="batch_size"):
        score_answers(model, tok, ROWS, batch_size=0)
    with pytest.raises(ValueError, match="template"):
        score_answers(model, tok, ROWS, template="nope")


# --------------------------------------------------------------------------------------------------------------
# the shared-prompt path against the plain full-sequence path
# --------------------------------------------------------------------------------------------------------------
SHARED = [
    {"question": r["question"], "answer": a}
    for r in ROWS
    for a in (r["answer"], "Lima.", r["answer"] + " " + r["answer"], r.get("alt", "Oslo, where Ada was born."))
] + ROWS[:2]  # a question again, after the others


def _bos_tokenizer(tok):
    """The fixture's tokenizer, with a BOS token that it adds by itself (as Llama's does)."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    core = tok.backend_tokenizer.__class__.from_str(tok.backend_tokenizer.to_str())
    core.add_special_tokens(["<s>"])
    bos = core.token_to_id("<s>")
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="</s>", bos_token="<s>"
    )


@pytest.mark.parametrize("bos", [False, True])
def test_encode_rows_equals_encode_qa(tiny, bos):
    from npo_lab.scoring import encode_prompts, encode_rows
    from npo_lab.tofu.data import encode_prompt

    tok = _bos_tokenizer(tiny[1]) if bos else tiny[1]
    for max_length in (256, 15):  # 15 cuts the longer answers
        prompts, prompt_of_row, targets = encode_rows(tok, SHARED, max_length=max_length)
        assert len(prompts) == len(ROWS)  # each distinct question once
        for row, p, t in zip(SHARED, prompt_of_row, targets):
            enc = encode_qa(tok, row["question"], row["answer"], "qa", max_length)
            assert prompts[p] + t == enc["input_ids"]
            assert t == [x for x in enc["labels"] if x != -100]
    questions = [r["question"] for r in ROWS]
    assert encode_prompts(tok, questions) == [encode_prompt(tok, q) for q in questions]
    assert bool(bos) == (encode_prompts(tok, questions)[0][0] == tok.bos_token_id)
    with pytest.raises(ValueError, match="max_length"):
        encode_rows(tok, SHARED, max_length=4)


@pytest.mark.parametrize("path", ["trie", "trie-eager", "cache"])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_shared_prompts_equal_the_full_sequence_pass(tiny, batch_size, path, monkeypatch):
    """Same log-probs (per token within 1e-5), token counts and order as the plain path; the argmaxes are those of
    the plain pass's logits at the answer positions. Both fast paths: one pass of each prompt and its answers' trie
    (sdpa and eager attention), and the answer passes from the prompts' key/value cache (the path of attention
    implementations that take no 4-D mask)."""
    from npo_lab import answer_trie, scoring
    from npo_lab.scoring import score_answers_reference

    model, tok = tiny
    if path == "cache":
        monkeypatch.setattr(scoring, "takes_tree_mask", lambda m: False)
    elif path == "trie-eager":
        monkeypatch.setattr(model.config, "_attn_implementation", "eager")
    assert (path != "cache") == scoring.takes_tree_mask(model) == answer_trie.takes_tree_mask(model) or path == "cache"
    new = score_answers(model, tok, SHARED, batch_size=batch_size, token_logps=True, greedy_ids=True)
    ref = score_answers_reference(model, tok, SHARED, batch_size=4, token_logps=True)
    assert torch.equal(new.n_tokens, ref.n_tokens)
    assert torch.allclose(new.logp, ref.logp, rtol=1e-6, atol=1e-5)
    for a, b in zip(new.token_logps, ref.token_logps):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    argmax = []
    for batch, logits in iter_forward(model, tok, SHARED, batch_size=4):
        keep = batch["labels"][:, 1:] != -100
        argmax += [logits[i, :-1][keep[i]].argmax(-1) for i in range(len(keep))]
    for row, g, a, t in zip(SHARED, new.greedy_ids, argmax, new.target_ids):
        assert torch.equal(g, a)
        assert t == [x for x in encode_qa(tok, row["question"], row["answer"])["labels"] if x != -100]
    # results are ordinary tensors (not inference tensors): usable in a loss with gradients
    w = torch.ones((), requires_grad=True)
    (new.logp * w).sum().backward()
    assert w.grad is not None and not new.logp.is_inference()


def test_model_without_cache_uses_the_full_sequence_pass(tiny):
    from npo_lab.kvcache import cache_keyword
    from npo_lab.scoring import score_answers_reference

    model, tok = tiny

    class NoCache(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def get_input_embeddings(self):
            return self.inner.get_input_embeddings()

        def forward(self, input_ids, attention_mask=None, use_cache=False):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    wrapped = NoCache(model)
    assert cache_keyword(wrapped) is None and cache_keyword(model) in ("cache", "past_key_values")
    res = score_answers(wrapped, tok, SHARED, batch_size=4)
    assert torch.equal(res.logp, score_answers_reference(model, tok, SHARED, batch_size=4).logp)


def test_split_sorted_is_optimal():
    from itertools import combinations

    from npo_lab.scoring import split_sorted

    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        lengths = sorted(torch.randint(1, 40, (7,), generator=gen).tolist())
        for max_rows, overhead in ((3, 0), (7, 10), (2, 64)):
            spans = split_sorted(lengths, max_rows, overhead)
            assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
            assert all(a < b and b - a <= max_rows for a, b in spans)
            assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))

            def cost(sp, lengths=lengths, overhead=overhead):
                return sum((b - a) * lengths[b - 1] + overhead for a, b in sp)

            best = min(
                cost(list(zip((0, *cuts), (*cuts, len(lengths)))))
                for k in range(len(lengths))
                for cuts in combinations(range(1, len(lengths)), k)
                if all(b - a <= max_rows for a, b in zip((0, *cuts), (*cuts, len(lengths))))
            )
            assert cost(spans) == best


def test_answer_trie_shares_prefixes_and_keeps_each_answer_whole():
    from npo_lab.answer_trie import answer_trie

    targets = [[5, 6, 7, 2], [5, 6, 8, 2], [5, 9, 2], [4, 2], [2]]
    tokens, parents, depths, nodes_of = answer_trie(targets)
    # the input tokens (all targets but the last): 5,6,7 / 5,6,8 / 5,9 / 4 / (none) -> 5, 6, 7, 8, 9, 4
    assert tokens == [5, 6, 7, 8, 9, 4] and parents == [-1, 0, 1, 1, 0, -1] and depths == [0, 1, 2, 2, 1, 0]
    assert nodes_of == [[0, 1, 2], [0, 1, 3], [0, 4], [5], []]
    for t, nodes in zip(targets, nodes_of):  # walking a row's nodes spells its answer's input tokens
        assert [tokens[k] for k in nodes] == t[:-1]
        assert all(parents[b] == a for a, b in zip(nodes, nodes[1:]))


def test_flash_attention_takes_the_cache_path(tiny, monkeypatch):
    from npo_lab.answer_trie import takes_tree_mask

    model, _ = tiny
    assert takes_tree_mask(model)
    monkeypatch.setattr(model.config, "_attn_implementation", "flash_attention_2")
    assert not takes_tree_mask(model)  # flash attention applies padding masks only
