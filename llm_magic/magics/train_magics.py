"""``%llm_train``, ``%llm_eval``, ``%llm_status``, ``%llm_runs``: training and evaluation in the kernel."""
from __future__ import annotations

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Unicode

from llm_magic.errors import LlmMagicError
from llm_magic.magics._common import llm_settings, resolve_data_arg, user_errors
from llm_magic.runtime.session import get_session
from llm_magic.runtime.training.api import status
from llm_magic.runtime.training.runs import RunsTable
from llm_magic.widgets.loss_plot import LossPlot


@magics_class
class TrainMagics(Magics):
    """Magics that fine-tune and evaluate the session's model."""

    report_to = Unicode(
        "none",
        help="Experiment trackers every %llm_train reports to unless --report-to says otherwise: any of "
             "tensorboard, mlflow, wandb, trackio (comma-separated), all, or none. Set it with "
             "%config TrainMagics.report_to = 'tensorboard' (or in ipython_config.py).",
    ).tag(config=True)

    @line_magic
    @magic_arguments()
    @argument("--data", default=None,
              help="A DataFrame / datasets.Dataset variable or a data file; default: the bound data.")
    @argument("--resume", action="store_true",
              help="Continue the last stopped or interrupted run from its checkpoint.")
    @argument("--background", action="store_true",
              help="Train in a background thread: the cell returns at once, the plot keeps updating.")
    @argument("--stop", action="store_true", help="Stop the background run after its current step.")
    @argument("--sample-every", type=int, default=None, metavar="N",
              help="Every N steps, show the model's greedy answers to a few validation prompts.")
    @argument("--processes", type=int, default=None, metavar="N",
              help="Train data-parallel on N processes (one per GPU; CPU processes without GPUs) as "
                   "backend.strategy says (DDP, FSDP, DeepSpeed); see docs/scale-out.md.")
    @argument("--report-to", default=None, metavar="TRACKERS",
              help="Report the run to experiment trackers: tensorboard, mlflow, wandb, trackio (any, "
                   "comma-separated), all, or none; default: the TrainMagics.report_to setting ('none').")
    @argument("--seed", type=int, default=None, metavar="N",
              help="Seed for this run (default: the config's random_seed, 42): initial adapter weights, "
                   "split, shuffling, dropout.")
    @user_errors
    def llm_train(self, line: str):
        """Fine-tune the current config's model on --data (trainer.type: finetune).

        Validates on the validation split, keeps the best weights, evaluates the test split at
        the end. With trainer.type: none it only evaluates the test split (no weights change).
        Ctrl-C (or the Stop button) stops after the current step and writes a checkpoint;
        ``%llm_train --resume`` continues from it. Examples::

            %llm_train --data df
            %llm_train --data train.jsonl --background --sample-every 20
            %llm_train --stop
            %llm_train --resume
            %llm_train --data df --processes 2
            %llm_train --data df --report-to tensorboard,mlflow
            %llm_train --data df --seed 7
        """
        args = parse_argstring(self.llm_train, line)
        session = get_session()
        if args.stop:
            if session.stop_training():
                print("Stopping after the current step; the run writes a checkpoint (resume with "
                      "%llm_train --resume).")
            else:
                print("No training run in progress.")
            return None
        if args.sample_every is not None and args.sample_every <= 0:
            raise LlmMagicError(f"--sample-every {args.sample_every}: expected a positive number of steps.")
        data = resolve_data_arg(self.shell, args.data)
        settings = llm_settings(self.shell)
        chart_interval = settings.chart_interval if settings is not None else None

        def loggers(record):
            plot = LossPlot(record.run_id, on_stop=session.stop_training, outcome=lambda: record.status,
                            foreground=not args.background, min_interval=chart_interval)
            plot.show()
            return [plot]

        record = session.train(data, resume=args.resume, background=args.background,
                               sample_every=args.sample_every, loggers=loggers, processes=args.processes,
                               report_to=args.report_to if args.report_to is not None else self.report_to,
                               seed=args.seed)
        if args.background and record.kind == "finetune":
            print(f"Training run {record.run_id} in the background. %llm_status shows its progress; "
                  "%llm_train --stop (or the Stop button) stops it.")
            return None
        for note in record.notes:
            print(note)
        return record.report

    @line_magic
    @magic_arguments()
    @argument("--data", default=None,
              help="A DataFrame / datasets.Dataset variable or a data file; default: the bound data.")
    @argument("--split", default="test", choices=["train", "validation", "test"],
              help="Which split of preprocessing.split to evaluate (default: test).")
    @argument("--compare", action="store_true",
              help="Also evaluate the base model (adapter off) and show both, metric by metric and answer by answer.")
    @user_errors
    def llm_eval(self, line: str):
        """Evaluate the current model on a split of --data, without changing its weights.

        Text outputs: loss, perplexity, token accuracy, exact match, BLEU, ROUGE; after a
        preference run (dpo/kto/orpo) also preference accuracy and the reward margin. Category
        outputs: accuracy, per-class precision/recall/F1 and a confusion matrix. Example::

            %llm_eval --data df --split test --compare
        """
        args = parse_argstring(self.llm_eval, line)
        return get_session().evaluate(resolve_data_arg(self.shell, args.data), split=args.split,
                                      compare=args.compare)

    @line_magic
    @user_errors
    def llm_status(self, line: str = ""):
        """Progress of the current (or last) training run: step, losses, best checkpoint, ETA."""
        return status(get_session())

    @line_magic
    @magic_arguments()
    @argument("--all", action="store_true", dest="all_columns",
              help="Every config key that differs between the runs and every final metric.")
    @user_errors
    def llm_runs(self, line: str = ""):
        """The runs of this session, one row per run: status, steps, duration, best eval loss,
        the key test metric, adapter and base model. ``--all`` adds every differing config key and
        every metric."""
        args = parse_argstring(self.llm_runs, line)
        return RunsTable(get_session().runs.runs, all_columns=args.all_columns)
