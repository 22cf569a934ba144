"""Train the embedded model's tokenizer: a byte-level BPE built with the ``tokenizers`` library.

Byte-level (GPT-2 style) means any text round-trips, even words outside the corpus; BPE merges
learn the corpus words, so most words are one token. The result is wrapped in a
``PreTrainedTokenizerFast`` with Llama-like special tokens (``<s>`` prepended, ``</s>`` as eos,
``<pad>`` for padding) and a simple chat template, ready for ``save_pretrained``.
"""
from __future__ import annotations

from collections.abc import Iterable

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, BOS, EOS)  # ids 0, 1, 2

# A plain role-prefixed transcript: "User: ...\nAssistant: ...</s>\n". Kept deliberately simple:
# the tiny model was never trained on chats, the template only has to be well-formed.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int):
    """Train a byte-level BPE on ``texts``; return a ``transformers.PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # trim_offsets=False keeps offsets exact; the template prepends <s> like Llama's tokenizer.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
        ),
    ])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=model_max_length,
        padding_side="left",  # generation-friendly, as Ludwig forces for LLM inputs
        clean_up_tokenization_spaces=False,  # keep decode(encode(text)) == text exactly
        chat_template=CHAT_TEMPLATE,
    )
