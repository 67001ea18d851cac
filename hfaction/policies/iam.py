"""IAM's wildcard semantics: action matching, and whether one resource pattern covers or
overlaps another (on the patterns' automata, so a hostile policy cannot make them
backtrack).

A needed ARN may hold :data:`ANY_REGION` or :data:`ANY_ACCOUNT`, markers for a region
or account the user did not give, matched as "whatever the policy names".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

# Markers for a region or account the user did not give: printed as "*", matched as
# "whatever the policy names" when validating.
ANY_REGION = "{region}"
ANY_ACCOUNT = "{account}"


@cache
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` one; everything else literal."""
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char)
                   for char in pattern)
    return re.compile(f"^{body}\\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: wildcards, case-insensitive (``s3:*``, ``states:Describe*``).
    On the pattern's automaton (:func:`_glob_includes`): a regular expression made of a
    hostile policy's ``*a*a*a...`` backtracks for minutes."""
    return _matches(pattern.lower(), action.lower())


def _matches(pattern: str, text: str) -> bool:
    """Does the glob match this plain text? Greedy, going back only to the last ``*``
    seen (what an earlier one would take, the last can): at most len(pattern) * len(text)
    steps."""
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        token = pattern[p] if p < len(pattern) else None
        if token == "*":
            star, resume = p, t
            p += 1
        elif token is not None and (token == "?" or token == text[t]):
            p, t = p + 1, t + 1
        elif star >= 0:  # the last "*" takes one more character
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


_ACCOUNT_IN = re.compile(r"\d{12}")
_REGION_IN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def _instances(needed: str, pattern: str) -> list[str]:
    """The needed ARN with an unknown region or account replaced by each value the
    pattern names (or a value no one names): "the user's account, whatever it is"."""
    accounts = ([*_ACCOUNT_IN.findall(pattern), "000000000000"]
                if ANY_ACCOUNT in needed else [""])
    regions = [*_REGION_IN.findall(pattern), "xx-none-0"] if ANY_REGION in needed else [""]
    return [needed.replace(ANY_ACCOUNT, account).replace(ANY_REGION, region)
            for account in accounts for region in regions]


# Resource patterns are globs over ``*`` (any run of characters, maybe none) and ``?`` (one
# character), so deciding whether one covers or meets another is a question about two
# regular languages, answered on their automata: a regular expression of one matched
# against the other's text takes the other's wildcards literally.
# A pattern state is the set of positions in the pattern reached so far.
_FRESH = None  # a character no pattern names: only "?" and "*" match it
_MAX_STATES = 100_000  # a hostile file cannot make the check run for ever


def _closure(pattern: str, positions: Iterable[int]) -> frozenset[int]:
    """The positions, each ``*`` also skipped; positions before the last ``*`` reached
    dropped (from that ``*`` every word they would accept is accepted too)."""
    reached = set(positions)
    for index in sorted(reached):
        while index < len(pattern) and pattern[index] == "*":
            index += 1
            reached.add(index)
    stars = [index for index in reached if index < len(pattern) and pattern[index] == "*"]
    floor = max(stars, default=0)
    return frozenset(index for index in reached if index >= floor)


def _step(pattern: str, state: frozenset[int], char: str | None) -> frozenset[int]:
    after = set()
    for index in state:
        if index == len(pattern):
            continue
        token = pattern[index]
        if token == "*":
            after.add(index)
        elif token == "?" or token == char:
            after.add(index + 1)
    return _closure(pattern, after)


def _glob_includes(pattern: str, needed: str) -> bool:
    """Does the glob ``pattern`` match every string the glob ``needed`` matches?

    The needed glob's ``?`` and ``*`` are walked with a character the pattern does not
    name (if the pattern matches a string with it there, it matches every string with any
    character there); a ``*`` takes every length, until the pattern's state repeats."""
    start = _closure(pattern, {0})
    todo = [(0, start)]
    seen: set[tuple[int, frozenset[int]]] = set()
    while todo:
        position, state = todo.pop()
        if (position, state) in seen:
            continue
        seen.add((position, state))
        if not state or len(seen) > _MAX_STATES:
            return False  # some string of the needed glob is not matched (or: too costly)
        if position == len(needed):
            if len(pattern) not in state:
                return False
            continue
        token = needed[position]
        if token == "*":
            lengths: set[frozenset[int]] = set()
            while state not in lengths:
                lengths.add(state)
                todo.append((position + 1, state))
                state = _step(pattern, state, _FRESH)
        else:
            todo.append((position + 1, _step(pattern, state, _FRESH if token == "?" else token)))
    return True


def _glob_intersects(left: str, right: str) -> bool:
    """Is there a string both globs match? (Both walked together: a memoized search over
    pairs of positions.)"""
    todo = [(0, 0)]
    seen: set[tuple[int, int]] = set()
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        a = left[i] if i < len(left) else None
        b = right[j] if j < len(right) else None
        if a is None and b is None:
            return True
        if a == "*":
            todo.append((i + 1, j))
        if b == "*":
            todo.append((i, j + 1))
        # One character for both; both "*" taking it is never needed (drop it from the
        # string and both still match).
        if a is not None and b is not None and not (a == "*" and b == "*") and \
                (a in "*?" or b in "*?" or a == b):
            todo.append((i if a == "*" else i + 1, j if b == "*" else j + 1))
    return False


def resource_covers(pattern: str, needed: str) -> bool:
    """Does the policy's resource pattern match every resource the needed pattern names?
    (``bucket/*`` is covered by ``bucket/*``, ``bucket*`` or ``*``; not by
    ``bucket/sites/*`` nor by ``bucket/?``, whose ``?`` is one character.)"""
    return any(_glob_includes(pattern, instance) for instance in _instances(needed, pattern))


def resource_overlaps(pattern: str, needed: str) -> bool:
    """Does the policy's resource pattern match some of the needed resources?"""
    return any(_glob_intersects(pattern, instance) for instance in _instances(needed, pattern))
