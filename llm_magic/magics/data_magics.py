"""``%llm_preview``: show how data rows render through the current prompt config."""
from __future__ import annotations

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from llm_magic.magics._common import resolve_data_arg, user_errors
from llm_magic.runtime.session import get_session
from llm_magic.widgets.prompt_preview import PromptPreviewView


@magics_class
class DataMagics(Magics):
    """Magics about data and prompts."""

    @line_magic
    @magic_arguments()
    @argument("--data", default=None,
              help="A DataFrame / datasets.Dataset variable or a data file; default: the bound data. "
                   "The data is bound to the session once the preview succeeds.")
    @argument("--row", type=int, default=0, help="Row to show first (0-based; negative counts from the end).")
    @argument("--split", default=None, choices=["train", "validation", "test"],
              help="Preview one split of preprocessing.split; default: all rows.")
    @user_errors
    def llm_preview(self, line: str):
        """Preview the prompt of a data row: template parts highlighted, context, target, token counts.

        In a notebook the row and the next nine show as HTML blocks (click one to open it; they
        survive a saved notebook); in terminal IPython the row is printed as text.
        Examples::

            %llm_preview --data df
            %llm_preview --row 3 --split validation
        """
        args = parse_argstring(self.llm_preview, line)
        session = get_session()
        data = resolve_data_arg(self.shell, args.data)
        preview = session.preview(data=data, row=args.row, split=args.split)
        if data is not None:
            session.bind_data(data)
        return PromptPreviewView(preview)
