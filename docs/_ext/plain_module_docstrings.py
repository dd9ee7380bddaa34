"""Sphinx extension: jaxgan's module docstrings, written as plain text, rendered as such.

A module docstring here is written for `help()` and the source reader: prose, then examples
and tables indented under it, often without the `::` reStructuredText wants:

    The GAN: a frozen spec ...

        spec = GANSpec(...)
        state = init_state(spec, key, batch)

This turns every such indented run into a literal block (monospace, its layout kept), so the
docs show what the source shows. A run that continues a bullet item ("- text" then "  more")
stays part of the item. Function and class docstrings are Google style (napoleon) and valid
reStructuredText as written; they are not touched.
"""

from __future__ import annotations

import re

BULLET = re.compile(r"^(\s*)([-*•]|\d+\.|\([a-z0-9]\))\s+")


def _indent(line: str) -> int:
  return len(line) - len(line.lstrip(" "))


def _continues_bullet(previous: str, indent: int) -> bool:
  match = BULLET.match(previous)
  return bool(match) and indent == match.end()


def literal_blocks(lines: list[str]) -> list[str]:
  """`lines` with each run indented past its paragraph made a literal block.

  Args:
    lines: the docstring's lines, dedented.

  Returns:
    The lines to parse as reStructuredText.
  """
  out: list[str] = []
  i = 0
  paragraph_indent = 0
  item_line = ""  # the paragraph's first line, when it is a bullet item
  while i < len(lines):
    line = lines[i]
    if not line.strip():
      out.append(line)
      i += 1
      continue
    indent = _indent(line)
    previous = next((p for p in reversed(out) if p.strip()), None)
    if previous is None or indent <= paragraph_indent or _continues_bullet(item_line, indent):
      starts_paragraph = previous is None or not out[-1].strip() or indent < paragraph_indent
      if out and out[-1].strip() and BULLET.match(item_line) and not BULLET.match(line):
        if indent <= paragraph_indent:  # a paragraph right after a list: reST wants a blank line
          out.append("")
          starts_paragraph = True
      if BULLET.match(line) and out[-1].strip() and not BULLET.match(item_line):
        out.append("")  # a list right after its paragraph's last line: reST wants a blank line
        starts_paragraph = True
      if starts_paragraph or BULLET.match(line):
        paragraph_indent, item_line = indent, line
      out.append(line)
      i += 1
      continue
    # An indented run: everything until a line back at the paragraph's indent or less.
    run = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > paragraph_indent):
      run.append(lines[i])
      i += 1
    while run and not run[-1].strip():
      run.pop()
    if out[-1].strip():
      if out[-1].rstrip().endswith(":") and not out[-1].rstrip().endswith("::"):
        out[-1] = out[-1].rstrip() + ":"
        out.append("")
      else:
        out += ["", " " * paragraph_indent + "::", ""]
    else:
      out += [" " * paragraph_indent + "::", ""]
    out += run
    out.append("")
  return out


def _process(app, what, name, obj, options, lines):
  if what == "module":
    lines[:] = literal_blocks(list(lines))


def setup(app):
  app.connect("autodoc-process-docstring", _process)
  return {"parallel_read_safe": True, "version": "1"}
