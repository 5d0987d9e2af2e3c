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
