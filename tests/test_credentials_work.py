"""What hiding credentials costs grows with the text's length alone, checked in the structure of
the patterns and of the pass over query values, not by a clock (``scripts/bench/bench_hiding.py``
prints the medians at 16, 64 and 256 KB and their ratios).

Why: a client chooses an upload_url (4,096 characters) and a redirect's Location (a header of up
to 64 KB); a pattern that backtracked on such text held the GIL for seconds (``?pas`` x 1,000:
8-25 s; an unbounded ``_SLASHED_PASSWORD`` on ``//a:`` x n: the square of n), every thread of the
service stopped.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from edge_alpr import credentials
from edge_alpr.credentials import hide_credentials

# re's own parser and compiler (``re._parser`` since Python 3.11, ``sre_parse`` on 3.10)
_NEW = sys.version_info >= (3, 11)
_parser = importlib.import_module("re._parser" if _NEW else "sre_parse")
_compiler = importlib.import_module("re._compiler" if _NEW else "sre_compile")

_C = _parser  # the opcodes (MAX_REPEAT, IN, ...), re-exported by the parser on every Python
_REPEATS = {_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", _C.MAX_REPEAT)}
BOUND = 256  # the most characters one repeat of ``_SLASHED_PASSWORD`` takes (a user, a password, a host)


def repeats(items: Any) -> Iterator[tuple[int, Any]]:
    """The upper bound and the body of every repeat of a parsed pattern, lookarounds included."""
    for op, av in items:
        if op in _REPEATS:
            yield av[1], av[2]
            yield from repeats(av[2])
        elif op is _C.SUBPATTERN:
            yield from repeats(av[3])
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            yield from repeats(av[1])
        elif op is _C.BRANCH:
            for branch in av[1]:
                yield from repeats(branch)


def nested_bounds(items: Any, outer: int = 1) -> Iterator[int]:
    """Per repeat of a parsed pattern, the most times its body can run in one try: its upper bound
    times those of the repeats around it (``(?:[^@]{0,256}){0,256}``: 65,536 characters)."""
    for op, av in items:
        if op in _REPEATS:
            yield outer * av[1]
            yield from nested_bounds(av[2], outer * av[1])
        elif op is _C.SUBPATTERN:
            yield from nested_bounds(av[3], outer)
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            yield from nested_bounds(av[1], outer)
        elif op is _C.BRANCH:
            for branch in av[1]:
                yield from nested_bounds(branch, outer)


def first_literal(items: Any) -> str | None:
    """The character every match of a parsed pattern starts with, if it is one."""
    op, av = items[0]
    if op is _C.SUBPATTERN:
        return first_literal(av[3])
    return chr(av) if op is _C.LITERAL else None


_EVERY_CHARACTER = "".join(map(chr, range(sys.maxunicode + 1)))
_ZERO_WIDTH = {_C.ASSERT, _C.ASSERT_NOT, _C.AT}


def _flat(items: Any) -> Iterator[tuple[Any, Any]]:
    """The items of a parsed pattern in the order they match, groups opened."""
    for op, av in items:
        if op is _C.SUBPATTERN:
            yield from _flat(av[3])
        else:
            yield op, av


def _overlap(first: Any, second: Any, flags: int) -> bool:
    """Whether one character matches both single-character bodies."""
    held = "".join(m.group() for m in _compiler.compile(first, flags).finditer(_EVERY_CHARACTER))
    return _compiler.compile(second, flags).search(held) is not None


def adjacent_runs(items: Any, flags: int) -> Iterator[tuple[Any, Any]]:
    """Each pair of unbounded runs of one character class with a character in common and nothing
    between them that must take a character (``[^/]+[^/]+``, ``[^/]+/?[^/]+``): a try may split the
    text between them at every place, so a try that fails costs the square of the run's length."""
    seq = list(_flat(items))
    for i, (op, av) in enumerate(seq):
        if op in _REPEATS:
            yield from adjacent_runs(av[2], flags)
            if av[1] == _C.MAXREPEAT and len(av[2]) == 1:
                for op2, av2 in seq[i + 1:]:
                    if op2 in _ZERO_WIDTH:
                        continue
                    if op2 not in _REPEATS:
                        break
                    if av2[1] == _C.MAXREPEAT and len(av2[2]) == 1 and _overlap(av[2], av2[2], flags):
                        yield av[2], av2[2]
                    if av2[0] > 0:
                        break
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            yield from adjacent_runs(av[1], flags)
        elif op is _C.BRANCH:
            for branch in av[1]:
                yield from adjacent_runs(branch, flags)


def test_each_try_of_the_slashed_password_pattern_is_bounded() -> None:
    """``_SLASHED_PASSWORD`` is tried at every '//' and looks ahead for the '@' that ends a
    password and the host after it: one repeat without a bound lets each try scan to the text's
    end, so n tries cost the square of n.  Every repeat (lookaheads too) is bounded, and so is a
    repeat inside another: their bounds multiply (``(?:[^@]{0,256}){0,256}`` is 65,536)."""
    tree = _parser.parse(credentials._SLASHED_PASSWORD.pattern)
    bounds = [high for high, _ in repeats(tree)]
    assert bounds, "the pattern has its repeats"
    assert max(bounds) <= BOUND, bounds
    products = list(nested_bounds(tree))
    assert max(products) <= BOUND, products


@pytest.mark.parametrize("name", ["_AUTHORITY_ON", "_VALUE_RUN", "_SECRET_PATHS"])
def test_the_unbounded_runs_of_the_other_patterns_never_overlap(name: str) -> None:
    """The other patterns searched through the whole text have unbounded runs; each is one
    character class (no repeat in it to backtrack over) that cannot hold the pattern's first
    character, so a try scans its runs only up to the next place a try can start ('/': a try
    costs at most the characters of its few segments), or the pattern is that run alone (each
    match takes all it scanned).  A run of ``.`` or ``\\S`` after ``//`` scans to the text's end
    from every '//'.  No two runs sharing a character follow each other with nothing taking a
    character between them (``[^/]+[^/]+``): a try would split a segment at every place."""
    found = getattr(credentials, name)
    for pattern in found if isinstance(found, tuple) else (found,):
        tree = _parser.parse(pattern.pattern, pattern.flags)
        start = first_literal(tree)
        unbounded = [body for high, body in repeats(tree) if high == _C.MAXREPEAT]
        assert unbounded, f"{pattern.pattern}: no unbounded run (check the walk)"
        for body in unbounded:
            assert len(body) == 1 and body[0][0] in (_C.IN, _C.NOT_LITERAL, _C.LITERAL), (pattern.pattern, body)
            if start is None:
                assert len(tree) == 1, f"{pattern.pattern}: a run not at a fixed start must be the whole pattern"
            else:
                run = _compiler.compile(body, pattern.flags)
                assert run.fullmatch(start) is None, f"{pattern.pattern}: a run holds its start {start!r}"
        assert not list(adjacent_runs(tree, pattern.flags)), f"{pattern.pattern}: runs that share characters"


_SEGMENT = credentials._SEGMENT


@pytest.mark.parametrize(("name", "mutant"), [
    ("_SECRET_PATHS", rf"(/api/hook/){_SEGMENT}{_SEGMENT}/x"),  # two runs of one class
    ("_SECRET_PATHS", rf"(/api/hook/)(?:{_SEGMENT})(?:/?)[^/?#]+"),  # an optional '/' between
    ("_SECRET_PATHS", rf"(/api/hook/){_SEGMENT}(?=[a-z])[a-z]+"),  # a lookahead between
    ("_SLASHED_PASSWORD", r"//(?:[^@]{0,256}){0,256}:@"),  # nested bounds: 65,536 a try
    ("_SLASHED_PASSWORD", r"//(?:(?:a|[^@]{0,16}){0,16}){0,4}:@"),  # in a branch: 1,024
], ids=["adjacent", "optional-between", "lookahead-between", "nested", "nested-in-a-branch"])
def test_the_checks_refuse_a_pattern_of_quadratic_cost(monkeypatch: pytest.MonkeyPatch, name: str,
                                                        mutant: str) -> None:
    """The checks above fail for such a pattern put in place of the real ones (each costs time
    in the square of the text's length, or 256 times the linear: ``scripts/bench/bench_hiding.py``)."""
    pattern = re.compile(mutant)
    monkeypatch.setattr(credentials, name, (pattern,) if name == "_SECRET_PATHS" else pattern)
    with pytest.raises(AssertionError):
        if name == "_SLASHED_PASSWORD":
            test_each_try_of_the_slashed_password_pattern_is_bounded()
        else:
            test_the_unbounded_runs_of_the_other_patterns_never_overlap(name)


@pytest.mark.parametrize("text", [
    "http://u@x" + "?pas" * 16_384,  # 64 KB of '?' and name, no '='
    "http://x/a" + "?a=" * 21_845,  # a parameter after each '?', in the value of the one before
    "http://x/a?" + "t?" * 32_768 + "=1",  # one name of 64 KB
    ("?" + "pa" * 50 + "s=" + "?" * 100) * 300,  # long names and values of '?'
    "&" + "?x=?" * 16_384,
], ids=["no-equals", "a-parameter-in-each-value", "one-long-name", "long-names-and-values", "after-a-mark"])
def test_query_values_are_hidden_in_one_pass(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Each parameter name is judged once, and the names judged never overlap: what they cost
    together is bounded by the text's length, whatever a client puts in an upload_url (a pass
    that judged the names from every '?' again took time in the square of the length).
    ``scripts/bench/bench_hiding.py`` prints the times."""
    judged: list[int] = []
    judge = credentials._secret_name

    def counted(name: str) -> bool:
        judged.append(len(name))
        return judge(name)

    monkeypatch.setattr(credentials, "_secret_name", counted)
    hide_credentials(text)
    assert len(judged) <= text.count("="), (len(judged), text.count("="))
    assert sum(judged) <= len(text), (sum(judged), len(text))
