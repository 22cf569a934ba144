"""``%llm_info``: what model is loaded, how big it is, what trains, and what it costs in memory."""
from __future__ import annotations

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from llm_magic.magics._common import user_errors
from llm_magic.runtime.session import get_session


@magics_class
class ModelMagics(Magics):
    """Magics about the loaded model."""

    @line_magic
    @magic_arguments()
    @argument("--unload", action="store_true",
              help="Free the loaded model and its memory instead (it reloads on next use).")
    @user_errors
    def llm_info(self, line: str = ""):
        """Show the model of the current config: parameters, trainable share, dtype, device,
        quantization, bytes per parameter and memory. Loads the model first if needed.

        Examples::

            %llm_info
            %llm_info --unload
        """
        args = parse_argstring(self.llm_info, line)
        session = get_session()
        if args.unload:
            session.check_idle("unload the model")
            session.unload_model()
            print("Model unloaded; it loads again on first use.")
            return None
        return session.info()
