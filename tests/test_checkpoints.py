"""The TOFU checkpoint registry and the exact prompts each checkpoint was fine-tuned with."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from npo_lab.minitofu import train_tokenizer
from npo_lab.tofu import checkpoints as C
from npo_lab.tofu.data import encode_prompt, encode_qa
from npo_lab.tofu.templates import FIXED_DATE, TEMPLATES, PromptTemplate, get_template, guess_template

# A Llama-3.x-style chat template (the structure of meta-llama's: a system header with "Today Date", which falls
# back to the current day when the caller gives no date_string), written for this test.
LLAMA3_STYLE = (
    "{{- bos_token }}"
    "{%- if not date_string is defined %}"
    "{%- if strftime_now is defined %}{%- set date_string = strftime_now('%d %b %Y') %}"
    "{%- else %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] %}{%- set messages = messages[1:] %}"
    "{%- else %}{%- set system_message = '' %}{%- endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
    "Today Date: {{ date_string }}\n\n{{ system_message }}<|eot_id|>"
    "{%- for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)
CORPUS = ["Question: Where was Mara Quill born?\nAnswer: Mara Quill was born in Lisbon.", "[INST] Who? [/INST]"] * 20
Q, A = "Where was Mara Quill born?", "Mara Quill was born in Lisbon."


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=300)


@pytest.fixture(scope="module")
def chat_tok(tok):
    t = copy.deepcopy(tok)
    t.chat_template = LLAMA3_STYLE
    return t


def _frozen_clock(monkeypatch, day: dt.datetime):
    import transformers.utils.chat_template_utils as ctu

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return day

    monkeypatch.setattr(ctu, "datetime", Clock)


def test_llama3_prompt_has_system_prompt_and_fixed_date(chat_tok, monkeypatch):
    ckpt = C.get_checkpoint("open-unlearning/tofu_Llama-3.2-1B-Instruct_full")
    tpl = get_template(ckpt.template)
    assert ckpt.system_prompt == "You are a helpful assistant." and ckpt.date_string == "10 Apr 2025" == FIXED_DATE
    prompts, ids, bare = [], [], []
    for day in (dt.datetime(2025, 1, 2), dt.datetime(2031, 12, 30)):
        _frozen_clock(monkeypatch, day)
        prompts.append(tpl.prompt(Q, chat_tok))
        ids.append(encode_qa(chat_tok, Q, A, tpl)["input_ids"])
        bare.append(PromptTemplate("bare", use_chat_template=True).prompt(Q, chat_tok))  # no date_string
    assert prompts[0] == prompts[1] and ids[0] == ids[1]
    assert "Today Date: 10 Apr 2025\n\nYou are a helpful assistant.<|eot_id|>" in prompts[0]
    assert prompts[0].endswith(
        f"<|start_header_id|>user<|end_header_id|>\n\n{Q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # the same template without a date string follows the clock: the prompt would change from day to day
    assert "02 Jan 2025" in bare[0] and "30 Dec 2031" in bare[1]
    # the generic chat template fixes the date too, without a system prompt
    generic = TEMPLATES["chat"].prompt(Q, chat_tok)
    assert "Today Date: 10 Apr 2025\n\n<|eot_id|>" in generic


def test_phi_and_llama2_prompts_match_tofu_byte_for_byte(tok):
    phi = get_template(C.get_checkpoint("locuslab/tofu_ft_phi-1.5").template)
    llama2 = get_template(C.get_checkpoint("locuslab/tofu_ft_llama2-7b").template)
    # locuslab/tofu config/model_config.yaml: question_start_tag + q + question_end_tag + answer_tag, then a
    assert phi.format(Q, A) == "Question: " + Q + "\n" + "Answer: " + A
    assert llama2.format(Q, A) == "[INST] " + Q + " [/INST]" + "" + A
    assert phi.prompt(Q, tok).encode() == f"Question: {Q}\nAnswer: ".encode()
    assert llama2.prompt(Q, tok).encode() == f"[INST] {Q} [/INST]".encode()
    assert encode_prompt(tok, Q, phi) == tok(f"Question: {Q}\nAnswer: ", add_special_tokens=False)["input_ids"]


def test_guess_template_uses_the_registry(tok, chat_tok):
    for hub_id, ckpt in C.CHECKPOINTS.items():
        assert guess_template(hub_id) == ckpt.template
        assert guess_template(f"/models/{hub_id}/") == ckpt.template  # a local copy
    assert guess_template("open-unlearning/tofu_Llama-3.1-8B-Instruct_retain90", tok) == "llama3"
    assert guess_template("meta-llama/Llama-3.2-1B-Instruct", chat_tok) == "chat"
    assert guess_template("meta-llama/Llama-3.2-1B-Instruct", tok) == "qa"  # no chat template


def test_registry_entries():
    assert len(C.CHECKPOINTS) == 8
    for hub_id, ckpt in C.CHECKPOINTS.items():
        assert ckpt.hub_id == hub_id and ckpt.n_params > 1e9 and ckpt.template in TEMPLATES
        assert (ckpt.retain_model is None) != (ckpt.retain_log_url is None), hub_id
        for ref in ckpt.references:
            assert ref.source and ref.forget_split == "forget10"
            assert ref.forget_quality is None or 0 <= ref.forget_quality <= 1
            assert ref.model_utility is None or 0 <= ref.model_utility <= 1
    ou = [c for c in C.CHECKPOINTS.values() if c.hub_id.startswith("open-unlearning/")]
    assert len(ou) == 6 and all(c.template == "llama3" and c.retain_model.endswith("_retain90") for c in ou)
    assert C.CHECKPOINTS["open-unlearning/tofu_Llama-3.2-1B-Instruct_full"].n_params == 1_235_814_400
    npo = C.published("open-unlearning/tofu_Llama-3.2-1B-Instruct_full", "NPO")
    assert npo.forget_quality == 0.02 and npo.model_utility == 0.46 and "repro.md" in npo.source
    assert C.published("open-unlearning/tofu_Llama-3.2-3B-Instruct_full", "NPO") is None  # not published
    assert C.published("locuslab/tofu_ft_phi-1.5") is None
    ft = C.published("locuslab/tofu_ft_llama2-7b")
    assert ft.model_utility == 0.6227 and ft.forget_quality == 1.83e-21
    assert C.get_checkpoint("LOCUSLAB/TOFU_FT_PHI-1.5").template == "qa"
    assert C.find_checkpoint("gpt2") is None and C.find_checkpoint(None) is None
    with pytest.raises(ValueError, match="hub_id must be one of"):
        C.get_checkpoint("meta-llama/Llama-2-7b-chat-hf")
