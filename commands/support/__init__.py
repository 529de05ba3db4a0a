"""Support operations: hours, out-of-hours replies, first-response SLAs, service status.

The logic lives in small modules that do not know about Matrix (settings, calendar, sla,
statuspage models); ``commands.py`` is the one chat surface and holds ``setup(app)``.
"""
