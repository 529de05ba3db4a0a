"""The command path end to end on a real Synapse: help by role, refusals, hints, usage."""

from __future__ import annotations

from harness.matrix_helpers import World, running_bot


async def test_help_ping_refusal_unknown_and_quoting(world: World) -> None:
    async with running_bot(world.config()):
        bot = world.bot.user_id
        c, e = world.customer, world.engineer

        ask = await c.send(world.support, "!help")
        customer_help = await c.wait_reply(ask, bot)
        ask = await e.send(world.support, "!help")
        engineer_help = await e.wait_reply(ask, bot)
        assert "!ping" in customer_help.body
        assert customer_help.body != engineer_help.body or len(customer_help.body) <= len(
            engineer_help.body
        )

        ask = await c.send(world.support, "!pnig")
        hint = await c.wait_reply(ask, bot)
        assert "Did you mean" in hint.body and "!ping" in hint.body

        ask = await c.send(world.support, '!help "unclosed')
        usage = await c.wait_reply(ask, bot)
        assert "quotes" in usage.body and "Usage: !help" in usage.body

        ask = await c.send(world.support, "!ping")
        pong = await c.wait_reply(ask, bot)
        assert pong.body.startswith("Pong!")
        assert pong.thread_root == ask  # answered in the message's thread


async def test_injection_is_escaped(world: World) -> None:
    async with running_bot(world.config()):
        ask = await world.customer.send(world.support, "!<b>x</b>@room")
        # "!<b>" is not a command word: no answer at all is also safe, so use a real echo path
        ask = await world.customer.send(world.support, '!help "<img src=x onerror=alert(1)> @room"')
        reply = await world.customer.wait_reply(ask, world.bot.user_id)
        html = reply.content["formatted_body"]
        assert "<img" not in html and "&lt;img" in html
        assert reply.content["m.mentions"] == {}


async def test_v12_room_creator_is_staff_by_power_without_config(world: World) -> None:
    # Nobody configured: the room creator (v12: unlisted, unlimited power) is still staff,
    # the customer is not.
    config = world.config(roles={"admins": [], "engineers": [], "engineer_power_level": 50})
    async with running_bot(config):
        ask = await world.admin.send(world.support, "!kick")
        usage = await world.admin.wait_reply(ask, world.bot.user_id)
        assert "Usage: !kick" in usage.body
        ask = await world.customer.send(world.support, "!kick")
        refusal = await world.customer.wait_reply(ask, world.bot.user_id)
        assert "only for engineers" in refusal.body


async def test_a_capability_that_is_off_registers_no_commands(world: World) -> None:
    """No [rt] table: escalation's setup() registers nothing, so !help has no !ticket."""
    async with running_bot(world.config()) as app:
        assert not any(name.startswith("ticket") for name in app.registry.commands)
        ask = await world.engineer.send(world.support, "!help")
        listing = await world.engineer.wait_reply(ask, world.bot.user_id)
        assert "!ticket" not in listing.body and "!ping" in listing.body
        ask = await world.engineer.send(world.support, "!ticket")
        unknown = await world.engineer.wait_reply(ask, world.bot.user_id)
        assert "I don't know the command" in unknown.body


async def test_every_app_has_its_own_registry(world: World) -> None:
    from bot.app import App

    first, second = App(world.config()), App(world.config())
    assert first.registry is not second.registry and not first.registry.commands
