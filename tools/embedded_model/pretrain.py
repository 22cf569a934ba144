"""Pretrain the embedded model ``llm-magic/tiny`` (from scratch, or continued) and write it into the package.

Run from the repository root (the shipped v3 build: ~35 minutes on one shared CPU thread; see
README.md next to this file):

    nice -n 5 .venv/bin/python -m tools.embedded_model.pretrain > /tmp/pretrain.log 2>&1

Steps: generate the seeded corpus (``corpus.py``), train the byte-level BPE (``tokenizer.py``),
pack the documents into fixed-length blocks, train a small ``LlamaForCausalLM`` with the Hugging
Face ``Trainer``, then save model + tokenizer (safetensors) to ``llm_magic/runtime/embedded/tiny``
together with ``build_info.json`` (the settings, the losses and the time it took).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

from tools.embedded_model.corpus import generate_corpus, held_out_sentences

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "llm_magic" / "runtime" / "embedded" / "tiny"

# The architecture. Sized for the budget (pretraining <= ~15 min on 2 shared CPU cores, folder
# <= 10 MB): ~2M parameters, head_dim 32, a 512-token context. Measured before choosing (one
# training step of 8 x 512 tokens, 2 idle cores): hidden 128 x 4 layers 8.4k tokens/s, this
# shape 5.5k tokens/s, hidden 192 x 6 layers 3.6k tokens/s (too slow for ~2 corpus passes).
ARCH = dict(
    hidden_size=192,
    intermediate_size=512,
    num_hidden_layers=4,
    num_attention_heads=6,
    num_key_value_heads=6,
    max_position_embeddings=512,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,  # halves the embedding cost in the 10 MB budget
)


def build_model(tokenizer, seed: int):
    """A freshly initialised ``LlamaForCausalLM`` matching ``tokenizer``'s special tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **ARCH,
    )
    return LlamaForCausalLM(config)


def pack_blocks(docs: list[str], tokenizer, block_size: int):
    """Concatenate ``<s> doc </s>`` for every document and cut into ``block_size`` rows."""
    import torch

    ids: list[int] = []
    for enc in tokenizer(docs, add_special_tokens=True)["input_ids"]:
        ids.extend(enc)
        ids.append(tokenizer.eos_token_id)
    n_blocks = len(ids) // block_size
    return torch.tensor(ids[: n_blocks * block_size]).view(n_blocks, block_size)


class _Blocks:
    """A map-style dataset over packed blocks; labels equal inputs (the model shifts them)."""

    def __init__(self, blocks) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def _StopAt(deadline: float):
    """A ``TrainerCallback`` that ends training once ``time.time()`` passes ``deadline``."""
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if time.time() > deadline:
                control.should_training_stop = True
            return control

    return StopAt()


def mean_loss(model, tokenizer, texts: list[str]) -> float:
    """Mean per-token loss of ``model`` on ``texts`` (each scored on its own)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            n = ids.shape[1] - 1
            total += model(input_ids=ids, labels=ids).loss.item() * n
            count += n
    return total / count


def save_half_precision(model, out: Path) -> None:
    """Save weights as float16 safetensors (half the bytes) that still load as float32.

    ``from_pretrained`` defaults to ``dtype="auto"``, which follows ``config.json``'s ``dtype``;
    ``save_pretrained`` writes the tensors' dtype there, so it is set back to float32 afterwards.
    Training ran in float32 and the rounding to float16 changes the held-out loss by < 0.01.
    """
    import torch

    model.to(torch.float16).save_pretrained(out, safe_serialization=True)
    model.to(torch.float32)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save_tokenizer(tokenizer, out: Path) -> None:
    """Save the tokenizer under the portable class name ``PreTrainedTokenizerFast``.

    transformers 5 writes its internal ``TokenizersBackend``, which transformers 4.x (still
    allowed by our dependency range) cannot resolve; both read ``PreTrainedTokenizerFast``.
    """
    tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    # A tokenizer loaded from a folder (``--init-from``) carries where it was loaded from.
    for key in ("is_local", "local_files_only"):
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# Per corpus version (``corpus.CORPUS_KINDS``), the settings its build used; a flag overrides one.
# v1 = the first build (shipped until 2026-12-02, built at commit 631eb15), v2 = the second
# (not shipped), v3 = the third, shipped now (docs/embedded-model.md has each build's record).
PRESETS: dict[str, dict] = {
    "v1": dict(docs=18000, vocab_size=2048, lr=2e-3, warmup=20, epochs=1.0, layers=4),
    "v2": dict(docs=40000, vocab_size=4096, lr=3e-3, warmup=30, epochs=1.0, layers=4),
    "v3": dict(docs=40000, vocab_size=4096, lr=3e-3, warmup=40, epochs=5.0, layers=4),
}


def main(argv: list[str] | None = None) -> dict:
    """Build the embedded model; return the build info that is also written to the folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--corpus", choices=sorted(PRESETS), default="v3",
                        help="corpus version and its build's settings (v3 rebuilds the shipped model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", type=int, help="corpus documents")
    parser.add_argument("--vocab-size", type=int,
                        help="BPE vocabulary size (v1: a cap the merges never reach)")
    parser.add_argument("--hidden", type=int, default=ARCH["hidden_size"], help="width (dry runs)")
    parser.add_argument("--layers", type=int, help="depth")
    parser.add_argument("--block-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop early (dry runs)")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--warmup", type=int, help="warm-up steps")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes (a shared machine's deadline); "
                             "the steps actually done are recorded")
    # One thread: on a shared 2-core machine two torch threads spin-wait for each other whenever
    # another process holds a core; measured 3.6 s/step with 1 thread vs 12.8 s/step with 2.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init-from", type=Path,
                        help="continue from this model folder (its weights, shape and tokenizer) "
                             "instead of training from scratch; needs --curriculum")
    parser.add_argument("--curriculum", choices=("copy", "labels"),
                        help="copy: phase 1 copy/induction documents, phase 2 the v3 mixture with "
                             "copy documents (curriculum.py); labels: phase 2 with label-copy documents too; "
                             "--max-steps sets the steps")
    parser.add_argument("--phase1-share", type=float, default=0.4, help="share of steps in phase 1")
    parser.add_argument("--probe-every", type=int, default=100, help="copy probe interval (steps)")
    args = parser.parse_args(argv)
    if args.curriculum or args.init_from:
        return _continue(args, parser)
    for key, value in PRESETS[args.corpus].items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from tools.embedded_model.tokenizer import train_tokenizer

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    docs = generate_corpus(args.docs, args.seed, args.corpus)
    tokenizer = train_tokenizer(docs, args.vocab_size, args.block_size)
    blocks = pack_blocks(docs, tokenizer, args.block_size)
    print(f"corpus: {len(docs)} docs, {blocks.numel()} tokens, vocab {len(tokenizer)}", flush=True)

    ARCH.update(hidden_size=args.hidden, num_hidden_layers=args.layers,
                num_attention_heads=args.hidden // 32, num_key_value_heads=args.hidden // 32,
                intermediate_size=ARCH["intermediate_size"] * args.hidden // 192)
    model = build_model(tokenizer, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters", flush=True)

    training_args = TrainingArguments(
        output_dir=str(Path("/tmp") / "llm_magic_tiny_pretrain"),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_steps=args.warmup,
        weight_decay=0.01,
        max_grad_norm=1.0,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        seed=args.seed,
        disable_tqdm=True,
    )
    callbacks = [] if args.max_minutes is None else [_StopAt(started + 60 * args.max_minutes)]
    trainer = Trainer(model=model, args=training_args, train_dataset=_Blocks(blocks), callbacks=callbacks)
    result = trainer.train()
    train_seconds = time.time() - started

    held_out = held_out_sentences(200)
    eval_loss = mean_loss(model, tokenizer, held_out)
    prompt = tokenizer("Once upon a time, there was a little dog", return_tensors="pt")
    sample = model.generate(**prompt, max_new_tokens=40, do_sample=False)
    sample_text = tokenizer.decode(sample[0], skip_special_tokens=True)
    print(f"held-out loss {eval_loss:.3f} (ppl {math.exp(eval_loss):.2f})\nsample: {sample_text}")

    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = True  # the Trainer turns the KV cache off; generation wants it
    save_half_precision(model, args.out)
    save_tokenizer(tokenizer, args.out)
    info = {
        "model_id": "llm-magic/tiny",
        "parameters": n_params,
        "architecture": ARCH,
        "vocab_size": len(tokenizer),
        "corpus": {"generator": "tools/embedded_model/corpus.py", "version": args.corpus,
                   "documents": len(docs),
                   "seed": args.seed, "tokens": blocks.numel()},
        "training": {"steps": result.global_step, "epochs": args.epochs,
                     "batch_size": args.batch_size, "block_size": args.block_size,
                     "learning_rate": args.lr, "warmup_steps": args.warmup,
                     "mean_train_loss": round(result.training_loss, 4),
                     "last_logged_train_loss": float(trainer.state.log_history[-2]["loss"]),
                     "max_minutes": args.max_minutes,
                     "wall_seconds": round(train_seconds), "threads": args.threads,
                     "torch": torch.__version__, "machine": platform.machine()},
        # The loss curve, for docs/embedded-model.md: (step, training loss) as logged every 10 steps.
        "loss_curve": [[h["step"], round(float(h["loss"]), 3)]
                       for h in trainer.state.log_history if "loss" in h],
        "held_out_loss": round(eval_loss, 4),
        "sample": sample_text,
    }
    (args.out / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"saved to {args.out} in {train_seconds:.0f} s", flush=True)
    return info


def _continue(args, parser) -> dict:
    """``--init-from`` + ``--curriculum``: continue a build (see ``curriculum.py``), then save."""
    if not (args.curriculum and args.init_from and args.max_steps > 0):
        parser.error("--init-from FOLDER, --curriculum copy and --max-steps N go together")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from tools.embedded_model.curriculum import LABEL_PHASES, PHASES, continue_pretraining

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    previous = json.loads((args.init_from / "build_info.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(args.init_from)
    model = AutoModelForCausalLM.from_pretrained(args.init_from, dtype=torch.float32)
    lr = args.lr if args.lr is not None else 1e-3
    warmup = args.warmup if args.warmup is not None else 20
    block_size = args.block_size if args.block_size != 512 else 128
    held_out = held_out_sentences(200)
    loss_before = mean_loss(model, tokenizer, held_out)
    deadline = None if args.max_minutes is None else started + 60 * args.max_minutes
    record = continue_pretraining(
        model, tokenizer, steps=args.max_steps, phase1_share=args.phase1_share,
        batch_size=args.batch_size, block_size=block_size, lr=lr, warmup=warmup, seed=args.seed,
        probe_every=args.probe_every, deadline=deadline,
        phases=LABEL_PHASES if args.curriculum == "labels" else PHASES)
    wall = time.time() - started
    eval_loss = mean_loss(model, tokenizer, held_out)
    prompt = tokenizer("Once upon a time, there was a little dog", return_tensors="pt")
    sample = model.generate(**prompt, max_new_tokens=40, do_sample=False)
    sample_text = tokenizer.decode(sample[0], skip_special_tokens=True)
    print(f"held-out loss {loss_before:.3f} -> {eval_loss:.3f}\nsample: {sample_text}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = True
    save_half_precision(model, args.out)
    save_tokenizer(tokenizer, args.out)
    # The tokenizer and corpus record stay the base build's (its tokenizer is reused unchanged,
    # and test_embedded_data rebuilds it from that corpus); the continuation is recorded beside.
    info = dict(previous)
    # One record per continuation, oldest first (a continued build can be continued again).
    earlier = previous.get("continued", [])
    info["continued"] = (earlier if isinstance(earlier, list) else [earlier]) + [{
        "from": str(args.init_from), "curriculum": args.curriculum,
        "generator": "tools/embedded_model/curriculum.py",
        "phases": LABEL_PHASES if args.curriculum == "labels" else PHASES,
        "phase1_share": args.phase1_share, "seed": args.seed, "steps_planned": args.max_steps,
        "steps": record["steps"], "phase1_steps": record["phase1_steps"],
        "batch_size": args.batch_size, "block_size": block_size, "learning_rate": lr,
        "warmup_steps": warmup, "schedule": "cosine to 0", "max_minutes": args.max_minutes,
        "wall_seconds": round(wall), "threads": args.threads, "torch": torch.__version__,
        "loss_curve": record["loss_curve"], "probe_curve": record["probe_curve"],
        "held_out_loss_before": round(loss_before, 4),
    }]
    info["held_out_loss"] = round(eval_loss, 4)
    info["sample"] = sample_text
    (args.out / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"saved to {args.out} in {wall:.0f} s", flush=True)
    return info


if __name__ == "__main__":
    main()
