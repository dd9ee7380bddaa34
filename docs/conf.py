"""Sphinx configuration of jaxgan's documentation: `make -C docs html` (offline; warnings fail).

The API reference is autodoc over the docstrings (Google style, read by napoleon), the
formulas are LaTeX `.. math::` blocks rendered by MathJax, and the notebooks in notebooks/
are MyST Markdown notebooks that myst-nb executes during the build.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The tools (python -m jaxgan.sample, evaluate, translate, tokenize, attention_maps) each define
# --workdir and the like at import, as absl scripts do; the reference imports them all in one
# process, so a flag defined again replaces the earlier one here (and only here).
from absl import flags  # noqa: E402

_define_flag = flags.FlagValues.__setitem__


def _define_again(flag_values, name, flag):
  if name in flag_values:
    delattr(flag_values, name)
  _define_flag(flag_values, name, flag)


flags.FlagValues.__setitem__ = _define_again

project = "jaxgan"
author = "the jaxgan authors"
copyright = "2026, the jaxgan authors"  # noqa: A001 (Sphinx's name)

extensions = [
  "sphinx.ext.autodoc",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "sphinx.ext.viewcode",
  "myst_nb",
  "plain_module_docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute"]

# The reference: members in source order, the docstrings' Args/Returns by napoleon.
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": False}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # Attributes: as fields (a NamedTuple documents its fields itself)

# The notebooks run top to bottom in every build; a cell that fails fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4  # [text](page.md#a-heading) links, as on GitHub

html_theme = "alabaster"
html_title = "jaxgan"
html_theme_options = {
  "description": "A functional GAN toolkit on JAX and Flax",
  "fixed_sidebar": True,
}
