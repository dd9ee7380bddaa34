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
