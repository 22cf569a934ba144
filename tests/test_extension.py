"""The extension loads cheaply and registers every magic."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "sentence_transformers",
         "anywidget", "matplotlib")  # the loss chart's widget library, and no chart library


def test_load_ext_imports_no_heavy_library():
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'llm_magic')\n"
        "import sys\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "", f"%load_ext imported: {out.stdout.strip()}"


def test_load_ext_registers_all_magic_classes(ip):
    from llm_magic.magics import MAGIC_CLASSES

    magics = ip.shell.magics_manager.registry
    for _, class_name in MAGIC_CLASSES:
        assert class_name in magics
    assert "llm_config" in ip.shell.magics_manager.magics["cell"]


def test_package_exports_python_api():
    import llm_magic

    assert callable(llm_magic.load_config)
    assert llm_magic.get_session() is llm_magic.get_session()
    assert issubclass(llm_magic.ConfigError, llm_magic.LlmMagicError)
