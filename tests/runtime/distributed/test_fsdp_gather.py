"""``worker.gathered`` on FSDP2-sharded weights, with two real CPU processes (gloo).

accelerate only applies FSDP on accelerators, so ``%llm_train --processes`` cannot run FSDP on
this CPU machine; this test shards a tiny LoRA Llama with torch's own ``fully_shard`` (what
accelerate calls for FSDP2) and checks that rank 0 saves whole, correct weights.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

JOB = Path(__file__).with_name("fsdp_gather_job.py")
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_rank0_saves_whole_weights_from_fsdp2_shards(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(JOB), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    # The weights really were sharded: each process held half of each LoRA matrix's rows.
    assert report["sharded_types"] == ["DTensor"] and report["types_after"] == ["DTensor"]
    lora_a = next(k for k in report["local_shapes"] if k.endswith("q_proj.lora_A.default.weight"))
    assert report["local_shapes"][lora_a] == [2, 64]  # r = 4 rows over 2 processes
    before = load_file(str(tmp_path / "before.safetensors"))
    saved = load_file(str(tmp_path / "gathered.safetensors"))
    assert sorted(saved) == sorted(before) and len(saved) == 8  # 2 layers x q, v x A, B
    for name, tensor in before.items():
        assert torch.equal(saved[name], tensor), name
