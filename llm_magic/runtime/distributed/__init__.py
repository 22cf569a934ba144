"""Scale-out: the session's training job on several processes, GPUs and machines, via accelerate.

- :mod:`.strategy` — ``backend.strategy`` (DDP, FSDP, DeepSpeed ZeRO 1-3) -> accelerate's config,
  and the checks that refuse what cannot run here before anything starts;
- :mod:`.script` — the job folder (``train.py``, effective config, accelerate config) that
  ``%llm_export_script`` writes and a cluster runs with ``accelerate launch``;
- :mod:`.launch` — ``%llm_train --processes N`` (``Session.train`` calls its ``train_distributed``,
  the multi-process executor): launch that folder locally, feed the live plot from rank 0's
  metrics, load the trained weights back into the session;
- :mod:`.worker` — the per-process helpers ``train.py`` uses.

Nothing here imports torch at import time. See docs/scale-out.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llm_magic.runtime.distributed import script as _script

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.data.sources import DataSource, PathLike
    from llm_magic.runtime.session import Session

__all__ = ["export_script"]


def export_script(session: Session, directory: PathLike, *, data: DataSource | None = None,
                  processes: int | None = None, machines: int = 1,
                  include_weights: bool = True) -> _script.ExportReport:
    """Write the session's job folder for ``accelerate launch`` (see :func:`.script.write_job`).

    ``data`` defaults to the session's bound data; ``processes`` (the total) to one per GPU of
    this machine (2 without GPUs) on each of ``machines``; ``include_weights`` ships the loaded model's current trainable weights as the start.
    """
    config = session.require_config()
    if processes is None:
        # lazy: pulls torch; %load_ext stays light
        import torch

        per_machine = torch.cuda.device_count() if torch.cuda.is_available() else 2
        processes = max(per_machine, 1) * machines
    model = None
    if include_weights and session.models.loaded is not None:
        model = session.load_model().model
    data = data if data is not None else session.data
    return _script.write_job(config, directory, data=data, model=model, processes=processes, machines=machines)
