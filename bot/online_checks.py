"""``check-config --online``: can the bot actually reach and use what the config names?"""

from __future__ import annotations

import aiohttp

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
    if config.rt is not None:
        try:
            from commands.escalation.rt.factory import check_online as rt_check
        except ImportError:
            return problems
        problems.extend(await rt_check(config.rt))
    return problems
