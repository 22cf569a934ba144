"""The terminal progress line of training: one line, redrawn in place, ended once, no leftovers."""
from __future__ import annotations

import io

from llm_magic.runtime.training.loggers import TextLogger


def test_final_line_is_printed_once_and_pads_over_longer_draws():
    out = io.StringIO()
    logger = TextLogger(stream=out, min_interval=0)
    logger.on_max_steps(6, 0)
    for step in range(1, 7):
        logger.log_dict({"loss": 1.0 / step, "tokens_per_second": 12345.0 if step < 6 else 5.0}, step)
    logger.on_status("finished", 6)
    logger.close()
    text = out.getvalue()
    # One progress line (redrawn in place with \r) that ends once with the outcome: close() adds
    # no second copy.
    assert text.count("\n") == 1 and text.endswith("\n"), text
    final = text.rstrip("\n").split("\r")[-1].rstrip()
    assert final.startswith("step 6/6 | loss 0.1667 | tok/s 5") and final.endswith("finished in 0:00"), final
    # Step 6's line is shorter ("tok/s 5"): it is padded over step 5's longer one.
    draws = text.rstrip("\n").split("\r")[1:]
    assert len(draws[-2]) >= len(draws[-3]), draws
