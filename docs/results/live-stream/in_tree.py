"""Run a script with ``bifsmn`` imported from another installation folder (ab.sh's old build):
``python in_tree.py SITE SCRIPT [ARGS...]``. The editable install's import hook would otherwise
answer every ``import bifsmn`` with this checkout, whatever ``sys.path`` says."""

from __future__ import annotations

import runpy
import sys

site, script = sys.argv[1], sys.argv[2]
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
sys.path.insert(0, site)
sys.argv = [script, *sys.argv[3:]]
sys.path.insert(0, script.rsplit("/", 1)[0])  # the script's own folder, as `python SCRIPT` has
import bifsmn  # noqa: E402

assert bifsmn.__file__.startswith(site), f"bifsmn imported from {bifsmn.__file__}, not {site}"
runpy.run_path(script, run_name="__main__")
