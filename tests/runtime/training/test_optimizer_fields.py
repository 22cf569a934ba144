"""``OPTIMIZER_FIELDS`` says which ``optimizer:`` fields each type honours; the config rule refuses the rest.

The table is checked against the real classes: every optimizer type is built through
``build_optimizer`` with one field at a time set to a distinctive value, and a field counts as
taken when the instance keeps that value (in ``defaults``, or bitsandbytes' ``args``) without
raising. bitsandbytes' ``amsgrad``/``nesterov`` (accepted, dropped) and its 8-bit classes'
``optim_bits`` (any other value raises) are thereby not taken, as the table says.
"""
from __future__ import annotations

import importlib
import inspect
import warnings

import pytest

from llm_magic.runtime.config.effects import WITHOUT_EFFECT
from llm_magic.runtime.config.schema.trainer import OPTIMIZERS as SCHEMA_TYPES
from llm_magic.runtime.config.schema.trainer import OptimizerConfig
from llm_magic.runtime.training.optimizers import (
    MOMENTUM_REQUIRED, OPTIMIZER_FIELDS, OPTIMIZERS, UNSUPPORTED, build_optimizer)

# Values no class uses as its default, so a kept value shows the field reached the optimizer.
PROBES = {"betas": [(0.37, 0.777)], "eps": [0.00123], "weight_decay": [0.0456], "amsgrad": [True],
          "momentum": [0.321], "nesterov": [True], "dampening": [0.111], "alpha": [0.654],
          "centered": [True], "rho": [0.543], "initial_accumulator_value": [0.0789], "lr_decay": [0.0234],
          "momentum_decay": [0.00567], "optim_bits": [8, 32], "min_8bit_size": [17]}
APPLICABLE = {n for n in OptimizerConfig.model_fields if n != "type" and f"OptimizerConfig.{n}" not in WITHOUT_EFFECT}


def _flat(value):
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def _keeps(kind: str, name: str, value) -> bool:
    """Whether the optimizer built for ``kind`` with ``name: value`` keeps the value."""
    import torch

    options = {"type": kind, name: value}
    if kind in MOMENTUM_REQUIRED and name != "momentum":
        options["momentum"] = 0.9
    if name == "nesterov":
        options["momentum"] = 0.9  # torch refuses Nesterov without momentum
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer = build_optimizer(torch.nn.Linear(4, 4), options, 1e-3)
    except (ValueError, NotImplementedError):
        return False
    kept = dict(optimizer.defaults)
    if getattr(optimizer, "args", None) is not None:  # bitsandbytes keeps its 8-bit settings here
        kept.update(vars(optimizer.args))
    if name in kept:
        return tuple(_flat(kept[name])) == tuple(_flat(value))
    # bitsandbytes passes SGD/LARS momentum and dampening on as its `betas` pair.
    return not isinstance(value, bool) and all(v in list(_flat(list(kept.values()))) for v in _flat(value))


def test_every_usable_type_has_a_row():
    assert set(OPTIMIZER_FIELDS) == set(OPTIMIZERS) == set(SCHEMA_TYPES) - set(UNSUPPORTED)
    assert all(fields <= APPLICABLE for fields in OPTIMIZER_FIELDS.values())


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_table_matches_what_the_optimizer_class_keeps(kind):
    module, name = OPTIMIZERS[kind].split(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError:
        pytest.skip(f"{module} is not installed")
    candidates = APPLICABLE & set(inspect.signature(cls.__init__).parameters)
    taken = {field for field in candidates if all(_keeps(kind, field, v) for v in PROBES[field])}
    assert taken == OPTIMIZER_FIELDS[kind]


def test_momentum_free_bitsandbytes_types_really_need_momentum():
    import torch

    for kind in MOMENTUM_REQUIRED:
        with pytest.raises(NotImplementedError, match="momentum"):
            build_optimizer(torch.nn.Linear(4, 4), {"type": kind}, 1e-3)
