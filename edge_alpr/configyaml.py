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
from .names import SHOWN_CHARS, shown

# how deep a config's lists and mappings may nest (its own go some 6 deep): deeper, PyYAML's
# composer and every reader after it would recurse past Python's limit (a RecursionError)
MAX_DEPTH = 100
# nodes that YAML aliases may add to a document, each alias counted as a copy of what it names:
# far more than the most a config can use (a watch list of 10,000 labelled plates aliased in the
# 31 other lists it may have: 1.55 million), far less than a "billion laughs" of a few hundred
# bytes (nine levels of nine: 387 million), whose every reader (an error message, a loop over a
# list) would take minutes and gigabytes.  Counted as the document is composed, so a bomb is
# refused at the alias that crosses the limit, without a copy made
MAX_ALIAS_NODES = 8_000_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with the slips of a hand-edited file and a hostile one's traps made
    errors that name their line.

    A key given twice in one mapping (two ``api:`` sections pasted one below the other): PyYAML
    keeps the last, and the first section's settings are lost without a word.  A value PyYAML
    takes for a number or a date but cannot build (``2026-13-45``, an integer of 5,000 digits,
    ``!!int abc``): its constructors raise a plain ``ValueError``, which would end ``check-config``
    and ``run`` with a traceback instead of the file's name and line.  Lists nested thousands
    deep, and aliases that copy a list into itself level after level: refused as the document is
    composed, so that no reader of the data (an error message quoting a value) can be made to
    recurse past Python's limit or to walk hundreds of millions of items."""

    _depth = 0  # of the node being composed
    _copied = 0  # nodes that the document's aliases copy, each alias counted as a copy of what it names

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._own_pairs: dict[yaml.Node, list[tuple[yaml.Node, yaml.Node]]] = {}
        # each list's and mapping's nodes and levels, each alias in it counted as a copy
        self._size: dict[yaml.Node, int] = {}
        self._deep: dict[yaml.Node, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"lists and mappings nest more than {MAX_DEPTH} deep here; a config needs "
                    "a few levels: remove the extra brackets or indentation", self.peek_event().start_mark)
            event = self.peek_event()
            alias = event if isinstance(event, yaml.AliasEvent) else None
            node = super().compose_node(parent, index)
            if alias is not None and node is not None:
                self._count_alias(alias, node)
        finally:
            self._depth -= 1
        # an alias's node is measured where it is written (an alias inside it names it unfinished)
        if alias is None and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        """Note a list's or mapping's size and depth, each alias in it read as a copy of what it
        names, from those of its children (all composed before it; an alias to a list that holds
        it counts as one), and keep its pairs as written."""
        kids = _children(node)
        self._size[node] = 1 + sum(self._size.get(kid, 1) for kid in kids)
        self._deep[node] = 1 + max((self._deep.get(kid, 1) for kid in kids), default=0)
        if isinstance(node, yaml.MappingNode):
            # its pairs as written: constructing a mapping that merges this one (``<<: *this``)
            # rewrites this one's pairs in place with those it merges itself (PyYAML's flatten)
            self._own_pairs[node] = list(node.value)

    def _count_alias(self, alias: yaml.AliasEvent, node: yaml.Node) -> None:
        """Add what the alias ``alias`` to ``node`` copies to the document's count: a
        ``ComposerError`` at the alias where the copies come to over ``MAX_ALIAS_NODES`` nodes or
        nest deeper than ``MAX_DEPTH``."""
        size = self._size.get(node, 1)
        self._copied += size
        deep = self._depth - 1 + self._deep.get(node, 1)
        if self._copied > MAX_ALIAS_NODES or deep > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"this alias (*{alias.anchor}) copies {size:,} items, which brings the items that "
                f"aliases (*name) copy to over {MAX_ALIAS_NODES:,}, or the value to over {MAX_DEPTH} levels "
                "deep: aliases that name lists of aliases multiply; a config needs far fewer: write the "
                "value out", alias.start_mark if isinstance(alias.start_mark, yaml.error.Mark) else None)

    def compose_document(self) -> yaml.Node | None:
        self._own_pairs, self._size, self._deep, self._copied = {}, {}, {}, 0
        return super().compose_document()

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
        own = self._own_pairs.get(node)
        for key_node, _ in node.value if own is None else own:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *defaults``: later keys override it
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # a list or mapping as a key: PyYAML's own error says so below
                continue
            if first is not key_node:
                again = _spelling(key_node, key)
                raise yaml.constructor.ConstructorError(
                    f"the key {_spelling(first, key)} is first given here", first.start_mark,
                    f"and given again here{'' if again == _spelling(first, key) else f' as {again}'}, where "
                    "it would replace the first and every setting under it; keep one (merge the two into "
                    "one)", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _spelling(node: yaml.Node, key: Any) -> str:
    """A key as the file spells it (``1`` and ``1.0`` are one key to YAML), cut: a number, a
    date or ``true`` written plain as it is written (quoted, ``'1'`` would read as the text "1",
    another key), text quoted."""
    if not isinstance(node, yaml.ScalarNode):
        return shown(key)
    if node.style is None and node.tag != "tag:yaml.org,2002:str":
        text = str(node.value)
        return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"
    return shown(node.value)


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly in ``node``: a list's items, a mapping's keys and values."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
        if not hint and isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
            hint = _indent_hint(lines, e.problem_mark.line, problem)
        raise ConfigError(f"{where}: not valid YAML: {problem}{shown}{hint}") from e


_KEY_START = re.compile(r"[ ]*(?:-[ ]+)*")  # a line's indentation, a list item's "- " counted in


def _key_column(line: str) -> int:
    """The column (from 0) where ``line``'s key starts: after its spaces and any list item's "- "."""
    start = _KEY_START.match(line)
    return start.end() if start else 0


def _indent_hint(lines: list[str], number: int, problem: str) -> str:
    """What a person did, for PyYAML's two errors of a line indented one space too many or too
    few ("mapping values are not allowed here", "expected <block end>"): the columns the line
    and the one above it start at, or the colon that is missing or needs quotes.  Why: PyYAML's
    words name its parser's state, and the caret points at the colon, not at the indentation."""
    if not ("mapping values are not allowed" in problem or "expected <block end>" in problem):
        return ""
    if number >= len(lines):
        return ""
    above = next((n for n in range(number - 1, -1, -1)
                  if lines[n].strip() and not lines[n].lstrip().startswith("#")), None)
    if above is None:
        return ""
    here, there = _key_column(lines[number]), _key_column(lines[above])
    opens = lines[above].split(" #")[0].rstrip().endswith(":")
    if here != there and not (opens and here > there):
        return (f"\nline {number + 1}'s key starts in column {here + 1}, line {above + 1}'s above it in "
                f"column {there + 1}: keys of one mapping start in the same column (indent each level "
                "by the same number of spaces)")
    if ":" not in lines[above]:
        return f"\nline {above + 1} has no ':' after its key (key: value)"
    if ": " in lines[number][here:].split(": ", 1)[-1]:
        return "\na value holding ': ' is written in quotes (label: \"Gate: north\")"
    return ""


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
