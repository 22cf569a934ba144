"""Run by torchrun (2 CPU processes, gloo) from test_fsdp_gather.py: a tiny Llama with a LoRA
adapter is sharded with FSDP2 (``fully_shard`` per decoder layer and the root, as accelerate's
transformer-block wrapping does), then rank 0 saves the trainable weights inside
``worker.gathered``. Rank 0 also writes the weights from before sharding, for comparison.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 fsdp_gather_job.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import LlamaForCausalLM

from llm_magic.runtime.distributed.worker import gathered, rank, save_trainable_weights
from tests.tiny_models import tiny_config


def main() -> None:
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config("llama", vocab_size=64))
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    sharded = [type(p).__name__ for p in model.parameters()]
    local = {n: tuple(p.to_local().shape) for n, p in model.named_parameters() if hasattr(p, "to_local")}
    with gathered(model):
        if rank() == 0:
            save_trainable_weights(model, out / "gathered.safetensors")
    after = sorted({type(p).__name__ for p in model.parameters()})
    if rank() == 0:
        save_file(before, str(out / "before.safetensors"))
        (out / "report.json").write_text(json.dumps({
            "sharded_types": sorted(set(sharded)), "types_after": after,
            "local_shapes": local, "world_size": dist.get_world_size(),
        }))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
