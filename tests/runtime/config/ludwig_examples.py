"""Fifteen example Ludwig LLM configs (E1-E15), verbatim: every one must load."""

EXAMPLES = {
    # zero-shot generation (defaults: trainer none)
    "E1": """\
model_type: llm
base_model: facebook/opt-350m
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
generation: {max_new_tokens: 48, temperature: 0.2, top_p: 0.9}
""",
    # zero-shot classification with category extractor
    "E2": """\
model_type: llm
base_model: Qwen/Qwen2-0.5B-Instruct
prompt:
  task: "Label the sentiment of the sample input as positive, negative or neutral."
input_features: [{name: review, type: text}]
output_features:
  - name: label
    type: category
    preprocessing: {vocab: [positive, negative, neutral], fallback_label: neutral}
    decoder:
      type: category_extractor
      constrain_to_vocabulary: true
      match:
        positive: {type: contains, value: positive}
        negative: {type: contains, value: negative}
        neutral:  {type: regex, value: "\\\\bneutral\\\\b"}
generation: {max_new_tokens: 4, do_sample: false}
""",
    # few-shot with semantic retrieval (needs fixed split)
    "E3": """\
model_type: llm
base_model: facebook/opt-1.3b
prompt:
  task: "Return the rating (1-5) of the sample input."
  retrieval: {type: semantic, model_name: paraphrase-MiniLM-L3-v2, k: 3}
input_features: [{name: body, type: text}]
output_features: [{name: rating, type: text}]
preprocessing: {split: {type: fixed, column: split}}
""",
    # multi-column custom template
    "E4": """\
model_type: llm
base_model: mistralai/Mistral-7B-Instruct-v0.2
prompt:
  template: |
    ### Instruction:
    {instruction}

    ### Input:
    {context}

    ### Response:
input_features: [{name: prompt, type: text}]   # column may be absent; built from the template
output_features: [{name: response, type: text}]
""",
    # LoRA fine-tune with cosine schedule
    "E5": """\
model_type: llm
base_model: meta-llama/Llama-3.2-1B
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
prompt: {template: "### Instruction: {instruction}\\n### Response:"}
adapter: {type: lora, r: 16, alpha: 32, dropout: 0.05, target_modules: [q_proj, k_proj, v_proj, o_proj]}
trainer:
  type: finetune
  learning_rate: 0.0002
  epochs: 3
  batch_size: 2
  gradient_accumulation_steps: 8
  learning_rate_scheduler: {decay: cosine, warmup_fraction: 0.03}
  enable_gradient_checkpointing: true
preprocessing: {global_max_sequence_length: 1024}
""",
    # QLoRA 4-bit
    "E6": """\
model_type: llm
base_model: mistral-7b                      # preset
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
adapter: {type: lora}
quantization: {bits: 4, bnb_4bit_quant_type: nf4, bnb_4bit_compute_dtype: bfloat16}
trainer: {type: finetune, epochs: 1, learning_rate: 0.0001, optimizer: {type: paged_adam}}
""",
    # 8-bit LoRA merged into the base for export
    "E7": """\
model_type: llm
base_model: microsoft/phi-2
trust_remote_code: false
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
adapter:
  type: lora                                # phi-2 target modules auto-filled
  postprocessor: {merge_adapter_into_base_model: true, progressbar: true}
quantization: {bits: 8}                     # bits 4 + merge would be rejected
trainer: {type: finetune, epochs: 2, learning_rate: 0.0001}
""",
    # AdaLoRA
    "E8": """\
model_type: llm
base_model: HuggingFaceH4/zephyr-7b-beta
input_features: [{name: prompt, type: text}]
output_features: [{name: completion, type: text}]
adapter: {type: adalora, init_r: 12, target_r: 4, tinit: 50, tfinal: 100, delta_t: 10, total_step: 2000}
trainer: {type: finetune, train_steps: 2000, learning_rate: 0.0003}
""",
    # PiSSA-initialised rsLoRA with LoRA+
    "E9": """\
model_type: llm
base_model: Qwen/Qwen2.5-1.5B
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
adapter: {type: lora, r: 16, alpha: 32, init_lora_weights: pissa, use_rslora: true, loraplus_lr_ratio: 8}
trainer: {type: finetune, epochs: 2, learning_rate: 0.0001, batch_size: 4}
""",
    # non-LoRA adapters (swap the block)
    "E10": """\
model_type: llm
base_model: meta-llama/Llama-3.2-1B
input_features: [{name: instruction, type: text}]
output_features: [{name: output, type: text}]
adapter: {type: ia3, target_modules: [k_proj, v_proj, down_proj], feedforward_modules: [down_proj]}
# alternatives: {type: vera, r: 256} | {type: oft, oft_block_size: 32} | {type: boft, boft_block_size: 4}
#               {type: loha, r: 8, alpha: 8} | {type: lokr, r: 8} | {type: ln_tuning} | {type: vblora, r: 4}
trainer: {type: finetune, epochs: 3, learning_rate: 0.001}
""",
    # RoPE scaling + NEFTune, full fine-tune
    "E11": """\
model_type: llm
base_model: HuggingFaceH4/tiny-random-LlamaForCausalLM
input_features: [{name: input, type: text}]
output_features: [{name: output, type: text}]
model_parameters:
  rope_scaling: {rope_type: dynamic, factor: 2.0}
  neftune_noise_alpha: 5
trainer: {type: finetune, epochs: 1, batch_size: 8, learning_rate: 0.00005}
""",
    # inference with a pretrained adapter from the Hub
    "E12": """\
model_type: llm
base_model: HuggingFaceH4/tiny-random-LlamaForCausalLM
input_features: [{name: input, type: text}]
output_features: [{name: output, type: text}]
adapter: {type: lora, pretrained_adapter_weights: some-org/some-lora-adapter}   # Hub id, not a path
trainer: {type: none}
generation: {max_new_tokens: 64, do_sample: false}
""",
    # multi-adapter with TIES merge
    "E13": """\
model_type: llm
base_model: hf-internal-testing/tiny-random-GPTJForCausalLM
input_features: [{name: input, type: text}]
output_features: [{name: output, type: text}]
adapters:
  adapters:
    style: {type: lora, r: 4, alpha: 8}
    facts: {type: lora, r: 4, alpha: 8}
  merge: {name: blended, sources: [style, facts], weights: [0.6, 0.4], combination_type: ties, density: 0.5}
  active: blended
trainer: {type: finetune, epochs: 1, batch_size: 2}
""",
    # torchao int8 QAT (+ required LoRA)
    "E14": """\
model_type: llm
base_model: Qwen/Qwen2-0.5B
input_features: [{name: input, type: text}]
output_features: [{name: output, type: text}]
adapter: {type: lora, r: 4, alpha: 8}
quantization: {backend: torchao, mode: int8_weight_only, qat: true}
trainer: {type: finetune, epochs: 1, batch_size: 2}
""",
    # Ray backend for batch inference (trainer none)
    "E15": """\
model_type: llm
base_model: facebook/opt-350m
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
backend:
  type: ray
  processor: {type: dask, parallelism: 4}
  trainer: {use_gpu: true, num_workers: 2, resources_per_worker: {CPU: 2, GPU: 1}}
""",
}
