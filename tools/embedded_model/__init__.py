"""How the embedded model ``llm-magic/tiny`` and the example datasets are made (see README.md).

``vocabulary`` (the small closed world), ``corpus`` (the seeded English generator), ``tokenizer``
(byte-level BPE), ``pretrain`` (builds the model into the package), ``task_data`` (writes
``examples/data/*.csv``), ``finetune_check`` (LoRA verification on the animal task).
"""
