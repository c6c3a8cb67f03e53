"""A config file's YAML to plain data (``config.parse``), and its syntax errors reported.

Why a module of its own: the reporting is most of the work (PyYAML's messages say
"<unicode string>" for the file and cut an excerpt around the column, where a password in a URL
shows; its lines are not ``str.splitlines``'s), and it needs no section of the config: ``config``
re-exports ``parse`` and builds its dataclasses from what it returns.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .credentials import hide_credentials
from .errors import ConfigError
from .names import shown


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with two slips of a hand-edited file made errors that name their line.

    A key given twice in one mapping (two ``api:`` sections pasted one below the other): PyYAML
    keeps the last, and the first section's settings are lost without a word.  A value PyYAML
    takes for a number or a date but cannot build (``2026-13-45``, an integer of 5,000 digits,
    ``!!int abc``): its constructors raise a plain ``ValueError``, which would end ``check-config``
    and ``run`` with a traceback instead of the file's name and line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            kind = str(node.tag).rsplit(":", 1)[-1]
            value = node.value if isinstance(node, yaml.ScalarNode) else f"a {kind}"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown(value)} as a YAML {kind} ({e}); quote it if it is text",
                node.start_mark) from e

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *defaults``: later keys override it
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # a list or mapping as a key: PyYAML's own error says so below
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    f"the key {shown(key)} is first given here", first.start_mark,
                    f"and given again here, where it would replace the first {shown(key)} and every "
                    "setting under it; keep one (merge the two into one)", key_node.start_mark)
        return super().construct_mapping(node, deep)


def parse(text: str, where: str = "<config>") -> Any:
    """YAML text to plain data; a syntax error names the file and line, and shows that line with
    its URLs' credentials hidden.  Why not PyYAML's own excerpt: it cuts the line anywhere around
    the column (``... in:s3cret@cam/stream1``), where no rule can tell a password any more."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # safe: _StrictLoader is a SafeLoader
    except yaml.YAMLError as e:
        shown, problem = "", str(e)
        lines = _yaml_lines(text)
        if isinstance(e, yaml.MarkedYAMLError):  # its places say "<unicode string>": the file's name
            marks = [m for m in (e.problem_mark, e.context_mark) if m is not None]
            for mark in marks:
                mark.name, mark.buffer = where, None  # no excerpt of PyYAML's
            problem = str(e)
            shown = next((_excerpt(lines[m.line], m.line, m.column) for m in marks if m.line < len(lines)), "")
        elif isinstance(e, yaml.reader.ReaderError) and e.encoding == "unicode":
            # a character YAML refuses anywhere (a form feed pasted in): PyYAML places it by its
            # offset in "<unicode string>"; said here by the file's line and column as the others
            before = list(_LINE_BREAK.finditer(text, 0, e.position))
            number, column = len(before), e.position - (before[-1].end() if before else 0)
            problem = (f"unacceptable character #x{e.character:04x}: {e.reason}\n"
                       f'  in "{where}", line {number + 1}, column {column + 1}')
            shown = _excerpt(_REFUSED.sub("?", lines[number]), number, column)
        # a tab is the commonest slip of a hand-edited file, and PyYAML's words for it do not say so
        hint = "\nindent with spaces: YAML does not allow a tab there" if "'\\t'" in problem else ""
        raise ConfigError(f"{where}: not valid YAML: {problem}{shown}{hint}") from e


# the line breaks of YAML 1.1 as PyYAML counts lines (yaml/reader.py, ``Reader.forward``); not
# those of ``str.splitlines``, which also breaks at \v, \f and \x1c-\x1e (characters YAML refuses)
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_REFUSED = yaml.reader.Reader.NON_PRINTABLE  # what PyYAML refuses anywhere in a document


def _yaml_lines(text: str) -> list[str]:
    """``text``'s lines as a YAML error's line numbers count them (from 0), without the breaks."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if len(lines) > 1 and not lines[-1] else lines


def _excerpt(line: str, number: int, column: int) -> str:
    """A YAML error's line (``number`` from 0), its URLs' credentials hidden, with a caret under
    ``column`` where the hiding left the text before it as it was."""
    hidden = hide_credentials(line)
    if len(hidden) > 120:
        hidden = hidden[:117] + "..."
    caret = f"\n    {' ' * column}^" if column < 117 and hidden[:column] == line[:column] else ""
    return f"\n  line {number + 1}:\n    {hidden}{caret}"
