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

# how deep a config's lists and mappings may nest (its own go some 6 deep): deeper, PyYAML's
# composer and every reader after it would recurse past Python's limit (a RecursionError)
MAX_DEPTH = 100
# nodes that YAML aliases may add to a document, each alias counted as a copy of what it names:
# far more than shared camera defaults or a watch list used twice, far less than a "billion
# laughs" of a few hundred bytes (nine levels of nine: 387 million), whose every reader (an error
# message, a loop over a list) would take minutes and gigabytes
MAX_ALIAS_NODES = 1_000_000


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
    _written = 0  # nodes composed, aliases not counted

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._own_pairs: dict[yaml.Node, list[tuple[yaml.Node, yaml.Node]]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"lists and mappings nest more than {MAX_DEPTH} deep here; a config needs "
                    "a few levels: remove the extra brackets or indentation", self.peek_event().start_mark)
            if not self.check_event(yaml.AliasEvent):
                self._written += 1
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode) and node not in self._own_pairs:
            # its pairs as written: constructing a mapping that merges this one (``<<: *this``)
            # rewrites this one's pairs in place with those it merges itself (PyYAML's flatten)
            self._own_pairs[node] = list(node.value)
        return node

    def compose_document(self) -> yaml.Node | None:
        self._own_pairs, self._written = {}, 0
        node = super().compose_document()
        if node is not None:
            _check_expansion(node, self._written)
        return node

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
    """A key as the file spells it (``1`` and ``1.0`` are one key to YAML), cut."""
    return shown(node.value) if isinstance(node, yaml.ScalarNode) else shown(key)


def _check_expansion(root: yaml.Node, written: int) -> None:
    """A ``ComposerError`` where the document, each alias read as a copy of what it names, nests
    deeper than ``MAX_DEPTH`` or holds over ``MAX_ALIAS_NODES`` more nodes than the ``written``
    ones.  Each list and mapping is measured once (an alias is the node it names), without
    recursion: a walk in post-order, where a node met again while its own children are walked (an
    alias to a list that holds it) counts as one.  Scalars, most of a document, are counted where
    they stand, never walked (the walk costs some 2 % of reading a document of watch lists)."""
    size: dict[yaml.Node, int] = {}
    depth: dict[yaml.Node, int] = {}
    open_: set[yaml.Node] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, walked = stack.pop()
        if not walked:
            if node in size or node in open_:
                continue
            open_.add(node)
            stack.append((node, True))
            stack.extend((kid, False) for kid in _children(node) if not isinstance(kid, yaml.ScalarNode))
            continue
        open_.discard(node)
        total, deepest = 1, 0
        for kid in _children(node):
            total += size.get(kid, 1)
            deepest = max(deepest, depth.get(kid, 1))
        size[node], depth[node] = total, deepest + 1
        # what this node's copies add is at most what they add in all
        if depth[node] > MAX_DEPTH or total - written > MAX_ALIAS_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"the aliases (*name) in this value copy lists and mappings into each other to "
                f"over {MAX_ALIAS_NODES} items or {MAX_DEPTH} levels deep; a config needs far fewer: "
                "write the value out, or use each alias once", node.start_mark)


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
