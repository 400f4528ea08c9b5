from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestChannelActions(OpenlinesCase):
    """Connect, Disconnect and Test connection talk to the Bot API."""

    def test_connect_sets_the_webhook_with_the_secret(self):
        self.env["ir.config_parameter"].set_param("web.base.url", "https://crm.example.com")
        self.channel.action_connect()
        (call,) = self.fake.calls_of("setWebhook")
        self.assertEqual(call["url"], f"https://crm.example.com/openlines/webhook/{self.channel.webhook_key}")
        self.assertEqual(call["secret_token"], self.channel.webhook_secret)
        self.assertEqual(self.channel.state, "connected")

    def test_public_url_setting_overrides_the_base_url(self):
        self.env["ir.config_parameter"].set_param("openlines.public_url", "https://bot.example.org/")
        self.channel.action_connect()
        self.assertTrue(self.fake.calls_of("setWebhook")[0]["url"].startswith("https://bot.example.org/openlines/"))

    def test_disconnect_deletes_the_webhook(self):
        self.channel.action_connect()
        self.channel.action_disconnect()
        self.assertEqual(len(self.fake.calls_of("deleteWebhook")), 1)
        self.assertEqual(self.channel.state, "draft")

    def test_test_connection_shows_the_bot_name(self):
        action = self.channel.action_test()
        self.assertIn("openlines_test_bot", action["params"]["message"])
        self.assertIn("openlines_test_bot", self.channel.account_name)

    def test_polling_mode_connect_removes_the_webhook(self):
        self.channel.receive_mode = "polling"
        self.channel.action_connect()
        self.assertEqual(len(self.fake.calls_of("deleteWebhook")), 1)
        self.assertFalse(self.fake.calls_of("setWebhook"))

    @mute_logger(
        "odoo.addons.openlines_connector.connectors.telegram",
        "odoo.addons.openlines_connector.models.openlines_channel",
    )
    def test_a_bad_token_gives_a_clear_error_and_is_recorded(self):
        self.channel.token = "999:WRONG"
        action = self.channel.action_test()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Telegram answered", action["params"]["title"])
        self.assertNotIn("999:WRONG", str(action))
        self.assertEqual(self.channel.state, "error")
        self.assertTrue(self.channel.last_error)

    @mute_logger("odoo.addons.openlines_connector.models.openlines_channel")
    def test_connect_failure_is_shown_and_kept(self):
        self.fake.queue_error("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        action = self.channel.action_connect()
        self.assertIn("https url must be provided", action["params"]["message"].lower())
        self.assertEqual(self.channel.state, "error")
        self.assertIn("https", self.channel.last_error.lower())

    def test_missing_token_is_a_clear_error(self):
        self.channel.token = False
        with self.assertRaises(UserError):
            self.channel.action_connect()

    def test_default_api_address_is_telegrams(self):
        channel = self.env["openlines.channel"].create({"name": "Other", "line_id": self.line.id})
        self.assertEqual(channel.api_base_url, "https://api.telegram.org")
        self.assertTrue(len(channel.webhook_key) >= 40)
        self.assertNotEqual(channel.webhook_key, self.channel.webhook_key)

    def test_a_messenger_without_connector_cannot_be_chosen(self):
        from unittest.mock import patch  # noqa: PLC0415 - a registry entry, no ORM, is taken away

        from ..connectors.base import REGISTRY

        with patch.dict(REGISTRY):  # every listed messenger has a connector since Apple's (issue 14)
            del REGISTRY["apple"]
            with self.assertRaises(ValidationError):
                self.env["openlines.channel"].create({"name": "x", "line_id": self.line.id, "channel_type": "apple"})
