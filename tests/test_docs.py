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
    *glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True),
  ]
  missing = set()
  for path in sources:
    for name in re.findall(r"configs/([A-Za-z0-9_]+\.flags)", open(path).read()):
      if not os.path.exists(os.path.join(ROOT, "experiments", "configs", name)):
        missing.add(f"{relative(path)}: {name}")
  assert not missing, sorted(missing)


def module_name(path):
  name = relative(path).removesuffix(".py").replace(os.sep, ".")
  return name.removesuffix(".__init__")


def test_every_module_is_in_the_api_reference():
  """docs/api/*.rst documents every module of jaxgan (a new one is added to its group)."""
  documented = set()
  for page in glob.glob(os.path.join(ROOT, "docs", "api", "*.rst")):
    for line in open(page):
      if line.startswith(".. automodule:: "):
        documented.add(line.split()[-1])
  missing = {module_name(path) for path in MODULES} - documented - {"jaxgan"}
  assert not missing, sorted(missing)


# Helpers that compute what the penalties take; they implement no paper's term.
PENALTY_HELPERS = {"input_gradients", "per_example_norm"}


@pytest.mark.parametrize("module", ["losses", "penalties"])
def test_every_loss_and_penalty_has_its_formula_and_paper(module):
  """Each public function's docstring holds its formula as LaTeX (`.. math::`, rendered in the
  reference) and names its paper by year."""
  import re

  tree = ast.parse(open(os.path.join(ROOT, "jaxgan", f"{module}.py")).read())
  problems = []
  for node in tree.body:
    if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
      continue
    docstring = ast.get_docstring(node) or ""
    if ".. math::" not in docstring:
      problems.append(f"{node.name}: no .. math:: formula")
    if node.name not in PENALTY_HELPERS and not re.search(r"\b(19|20)\d\d\b", docstring):
      problems.append(f"{node.name}: no paper (author and year)")
  assert not problems, problems
