"""The code's own documentation: every module says what it is for, and every public function
of more than two parameters documents them (Args:), as DESIGN.md's anchors ask."""

import ast
import glob
import os

import pytest
from conftest import ROOT

MODULES = sorted(glob.glob(os.path.join(ROOT, "jaxgan", "**", "*.py"), recursive=True))


def relative(path):
  return os.path.relpath(path, ROOT)


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_every_module_says_what_it_is_for(path):
  tree = ast.parse(open(path).read())
  docstring = ast.get_docstring(tree) or ""
  assert len(docstring.split()) >= 5, f"{relative(path)} has no module docstring"


def test_public_functions_of_more_than_two_parameters_document_them():
  missing = []
  for path in MODULES:
    tree = ast.parse(open(path).read())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    functions = tree.body + [node for c in classes for node in c.body]
    for node in functions:
      if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
        continue
      arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
      names = [a.arg for a in arguments if a.arg not in ("self", "cls")]
      if len(names) > 2 and "Args:" not in (ast.get_docstring(node) or ""):
        missing.append(f"{relative(path)}:{node.lineno} {node.name}")
  assert not missing, missing


def test_every_recipe_the_docs_name_exists():
  """A recipe named in a docstring, a recipe's header or a Markdown page is in
  experiments/configs (a renamed or never-written one fails here, not for the reader)."""
  import re

  sources = [
    *MODULES,
    *glob.glob(os.path.join(ROOT, "experiments", "*.py")),
    *glob.glob(os.path.join(ROOT, "experiments", "configs", "*.flags")),
    *glob.glob(os.path.join(ROOT, "benchmarks", "*.py")),
    *glob.glob(os.path.join(ROOT, "*.md")),
  ]
  missing = set()
  for path in sources:
    for name in re.findall(r"configs/([A-Za-z0-9_]+\.flags)", open(path).read()):
      if not os.path.exists(os.path.join(ROOT, "experiments", "configs", name)):
        missing.add(f"{relative(path)}: {name}")
  assert not missing, sorted(missing)
