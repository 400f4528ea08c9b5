from odoo.tests import tagged

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestSiteChat(OpenlinesCase):
    """The line drives im_livechat's widget; site sessions are dialogs too."""

    def test_line_name_is_the_widget_title(self):
        info = self.line.livechat_channel_id.get_livechat_info()
        self.assertTrue(info["available"])
        self.assertEqual(info["options"]["channel_name"], "Test line")
        self.line.name = "Продажи"
        self.assertEqual(self.line.livechat_channel_id.get_livechat_info()["options"]["channel_name"], "Продажи")

    def test_site_visitor_session_becomes_a_dialog(self):
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": self.line.livechat_channel_id.id})
        session = self.env["discuss.channel"].browse(data["channel_id"])
        dialog = session.openlines_dialog_id
        self.assertTrue(dialog)
        self.assertEqual(dialog.source, "site")
        self.assertEqual(dialog.line_id, self.line)
        self.assertFalse(dialog.channel_id)
        self.assertEqual(dialog.operator_id, self.operator)
        self.operator_reply(dialog, "Здравствуйте!")
        self.assertEqual(dialog.state, "answered")
        self.assertFalse(
            self.env["openlines.message"].search([("dialog_id", "=", dialog.id)]),
            "site answers travel through the widget, not the outbound queue",
        )

    def test_one_list_holds_messenger_and_site_dialogs(self):
        self.receive(self.fixture("text"))
        self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": self.line.livechat_channel_id.id})
        sources = self.env["openlines.dialog"].search([("line_id", "=", self.line.id)]).mapped("source")
        self.assertEqual(sorted(sources), ["site", "telegram"])

    def test_closing_the_session_in_discuss_closes_the_dialog(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        dialog.discuss_channel_id.with_user(self.operator)._close_livechat_session()
        self.assertEqual(dialog.state, "closed")
        self.assertTrue(dialog.date_closed)

    def test_sessions_of_other_livechat_channels_are_left_alone(self):
        other = self.env["im_livechat.channel"].create({"name": "Not a line", "user_ids": [(6, 0, self.operator.ids)]})
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": other.id})
        self.assertFalse(self.env["discuss.channel"].browse(data["channel_id"]).openlines_dialog_id)
