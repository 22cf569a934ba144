"""Live loss-plot widget overhead: the same ``session.train`` with and without the widget.

The widget side is what ``%llm_train`` shows in Jupyter: a ``LossPlot`` in notebook mode,
displayed, redrawing (progress, metrics line, matplotlib chart) as the run logs every step; the
other side logs to a recording logger that draws nothing. Same session, model, rows and
settings (LoRA, the ~10M random Llama, rows of 128 tokens), alternating runs. The display goes
nowhere here (no browser), but everything the kernel does for it happens.

The verdict uses process CPU time: all the widget's work is CPU work in the training process,
and CPU time is not inflated by other processes on a shared machine the way wall time is. The
wall-time overhead is in the note.
"""
from __future__ import annotations

from benchmarks import workloads
from benchmarks.bench_finetune import EQUAL_LENGTH, alternate, in_temp_dir, our_finetune, our_session
from benchmarks.common import Result


def _with_widget(session, frame, plots: list) -> None:
    from IPython.utils.capture import capture_output

    from llm_magic.widgets.loss_plot import LossPlot

    def loggers(record):
        plot = LossPlot(record.run_id, on_stop=session.stop_training, notebook=True)
        plot.show()
        plots.append(plot)
        return [plot]

    with capture_output():  # no frontend: the display's text fallback would print here
        session.train(frame, loggers=loggers)


def run(quick: bool = False) -> list[Result]:
    """Overhead of the live widget on a LoRA run, in percent of the run without it."""
    workloads.quiet()
    model_path = str(workloads.model_dir("tiny" if quick else "10m"))
    # 96 rows make a run of about 20 s: the widget's cost per run (building it, the final chart
    # kept for the saved notebook) is fixed, so a run of a few seconds would measure mostly that.
    rows, repeats = (16, 1) if quick else (96, 3)
    frame = workloads.task_frame(rows, workloads.equal_lengths(rows, EQUAL_LENGTH))
    session = our_session(model_path, adapter=workloads.LORA)
    plots: list = []
    with in_temp_dir():
        our_finetune(session, frame)  # warm-up
        _with_widget(session, frame, plots)
        plain, widget = alternate(lambda: our_finetune(session, frame),
                                  lambda: _with_widget(session, frame, plots), repeats)
    overhead_cpu = (widget.cpu / plain.cpu - 1) * 100
    overhead_wall = (widget.wall / plain.wall - 1) * 100
    plot = plots[-1]
    note = (f"wall-time overhead {overhead_wall:+.1f}% ({widget.wall:.1f} s vs {plain.wall:.1f} s); "
            f"{plot.redraws} redraws over {plot.step} steps; {rows} rows of {EQUAL_LENGTH} tokens, "
            f"{workloads.threads()} threads")
    return [Result("live loss-plot widget overhead (CPU time)", overhead_cpu, None, "%",
                   "<= 3% of the run without widget", overhead_cpu <= 3.0, note)]
