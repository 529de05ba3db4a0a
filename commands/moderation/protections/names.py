"""Who a message pings by name: the legacy push rules that still notify people without `m.mentions`.

Element's (and every spec'd client's) default push rules `.m.rule.contains_display_name` and
`.m.rule.contains_user_name` notify a joined member whenever the body contains their display
name, or the localpart of their user id, as a whole word, case-insensitively. Since Matrix 1.7
(MSC3952) those rules are skipped for an event that carries `m.mentions`, so they are the way to
mass-ping a room without `m.mentions`: a body listing a dozen members' names.

`MemberNames` indexes the support room's members by the first word of each name, so matching a
body is one set intersection of its words against that index, then an exact check of the few
candidates: the cost does not grow with the room. Names that would mostly match ordinary text
(shorter than `min_length`, or a generic word such as "Support" or "Admin") are left out: they
would make a pasted log look like a mass ping. A name shared by several members counts as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"\w+")

# Display names that are ordinary words of a support chat (role names, greetings): counting them
# would flag people who merely write "the admin of our support team".
GENERIC = frozenset(
    """
    admin administrator anonymous bot cloud customer dev devops engineer everyone guest hello
    help helpdesk here hey info matrix mod moderator none null ops operator root server service
    staff support sysadmin system team test tester thanks unknown user
    """.split()
)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


class MemberNames:
    """Display names and localparts of one room's joined members -> their user ids."""

    def __init__(self, min_length: int = 3, generic: frozenset[str] = GENERIC) -> None:
        self.min_length = min_length
        self.generic = generic
        self.loaded = False
        self._keys: dict[str, tuple[str, ...]] = {}  # user -> lowered names it is indexed under
        self._users: dict[str, set[str]] = {}  # lowered name -> users
        # first word of a name -> {(offset of that word in the name, name)}
        self._first: dict[str, set[tuple[int, str]]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def load(self, members: Mapping[str, str | None]) -> None:
        """Start from a room's state: joined user id -> display name (None: no display name)."""
        for user_id in list(self._keys):
            self.remove(user_id)
        for user_id, display_name in members.items():
            self.put(user_id, display_name)
        self.loaded = True

    def put(self, user_id: str, display_name: str | None) -> None:
        """A member joined or changed their display name."""
        self.remove(user_id)
        localpart = user_id[1:].split(":", 1)[0]
        keys = tuple(
            {k for k in (self._usable(display_name), self._usable(localpart)) if k is not None}
        )
        if not keys:
            return
        self._keys[user_id] = keys
        for key in keys:
            users = self._users.setdefault(key, set())
            if not users:
                word = _WORD.search(key)
                assert word is not None  # _usable keeps only names with a word in them
                self._first.setdefault(word.group(), set()).add((word.start(), key))
            users.add(user_id)

    def remove(self, user_id: str) -> None:
        """A member left, was kicked or banned."""
        for key in self._keys.pop(user_id, ()):
            users = self._users.get(key)
            if users is None:
                continue
            users.discard(user_id)
            if not users:
                del self._users[key]
                word = _WORD.search(key)
                if word is not None:
                    entries = self._first.get(word.group())
                    if entries is not None:
                        entries.discard((word.start(), key))
                        if not entries:
                            del self._first[word.group()]

    def _usable(self, name: str | None) -> str | None:
        if not name:
            return None
        key = name.strip().lower()
        if len(key) < self.min_length or key in self.generic or not _WORD.search(key):
            return None
        return key

    def pinged(self, body: str) -> set[str]:
        """Members whose name the body contains as a whole word (one user per matched name)."""
        if not self._first:
            return set()
        low = body.lower()
        words = set(_WORD.findall(low))
        hits = words & self._first.keys()
        if not hits:
            return set()
        found: set[str] = set()
        for word in hits:
            for offset, key in self._first[word]:
                if key == word or _contains_word(low, key, offset):
                    found.add(min(self._users[key]))
        return found

    def names_of(self, user_ids: Iterable[str]) -> list[str]:
        return sorted(k for u in user_ids for k in self._keys.get(u, ()))


def _contains_word(text: str, key: str, offset: int) -> bool:
    """Whether ``key`` occurs in ``text`` with no word character touching either end."""
    start = text.find(key)
    while start != -1:
        end = start + len(key)
        before_ok = start == 0 or not _is_word_char(text[start - 1]) or offset > 0
        after_ok = end == len(text) or not _is_word_char(text[end]) or not _is_word_char(key[-1])
        if before_ok and after_ok:
            return True
        start = text.find(key, start + 1)
    return False
