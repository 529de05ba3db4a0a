"""Settings of one feature; the root model in bot/config.py mounts it."""

from bot.settings_base import Section


class AccessSettings(Section):
    """Filled in by the feature that owns it."""
