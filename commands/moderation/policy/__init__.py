"""Policy lists: MSC2313 `m.policy.rule.*` rooms followed, their ban rules applied as bans.

rules.py reads rule events and matches globs (pure); store.py keeps rules and the bans they
caused in SQLite; lists.py follows the list rooms; enforcer.py bans and unbans through
Moderator.act; protection.py ties them into the moderation chain; commands.py is `!policy`.
"""
