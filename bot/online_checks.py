"""``check-config --online``: can the bot actually reach and use what the config names?"""

from __future__ import annotations

import aiohttp

from bot.capability import capabilities
from bot.config import Config


async def check_online(config: Config) -> list[str]:
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            async with http.get(
                f"{config.matrix.homeserver.rstrip('/')}/_matrix/client/versions"
            ) as resp:
                if resp.status != 200:
                    problems.append(f"matrix.homeserver: /versions answered HTTP {resp.status}")
        except aiohttp.ClientError as exc:
            problems.append(f"matrix.homeserver: unreachable ({exc})")
    if config.matrix.encryption and config.matrix.cross_signing:
        problems.extend(await check_cross_signing(config))
    for cap in capabilities():
        settings = getattr(config, cap.settings_key, None) if cap.settings_key else None
        if cap.online_check is not None and settings is not None:
            problems.extend(await cap.online_check(settings))
    return problems


async def check_cross_signing(config: Config) -> list[str]:
    """What other clients see of the bot's device: cross-signed, or why not.

    Uses the device the bot saved in its data dir (or the configured access
    token's device); it never logs in, which would make a new device.
    """
    import nio

    from bot.matrix import Session
    from bot.matrix.cross_signing import CrossSigningError, online_status

    where = "matrix.cross_signing"
    try:
        session = Session.model_validate_json((config.bot.data_dir / "session.json").read_text())
        user_id, device_id, token = session.user_id, session.device_id, session.access_token
    except (OSError, ValueError):
        if not config.matrix.access_token:
            print(f"  {where}: not checked: no saved device in {config.bot.data_dir} yet")
            return []
        user_id, device_id, token = config.matrix.user_id, "", config.matrix.access_token
    client = nio.AsyncClient(config.matrix.homeserver, user_id)
    try:
        client.access_token = token
        if not device_id:
            who = await client.whoami()
            if not isinstance(who, nio.WhoamiResponse) or not who.device_id:
                return [f"{where}: the access token's device is unknown ({who})"]
            device_id = who.device_id
        try:
            status = await online_status(client, user_id, device_id)
        except (CrossSigningError, aiohttp.ClientError, TimeoutError) as exc:
            return [f"{where}: cannot query the bot's keys ({exc})"]
    finally:
        await client.close()
    if not status.cross_signed:
        return [f"{where}: {status.describe()}"]
    print(f"  {where}: {status.describe()}")  # an OK worth showing, not a problem
    return []
