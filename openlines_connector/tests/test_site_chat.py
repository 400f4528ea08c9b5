from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import get_db_name, tagged

from .common import OpenlinesCase

#: what the support page of a live-chat channel loads in a test (im_livechat's ``support_page``)
WIDGET_BUNDLES = ("im_livechat.assets_embed_external", "im_livechat.assets_livechat_support_tours")


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


@tagged("post_install", "-at_install")
class TestSiteChatTour(OpenlinesCase):
    """The widget in a real browser (im_livechat's support page of the line's channel): its
    end-of-chat panel asks for a rating only when the line does."""

    @classmethod
    def setUpClass(cls):
        cls._pregenerate_widget_assets()
        super().setUpClass()

    @classmethod
    def _pregenerate_widget_assets(cls):
        """Build the widget's bundles once, committed, before the test transaction (as ``test_tour.py``
        does for the web client): compiled inside the test cursor they make the widget's RPCs time out."""
        with Registry(get_db_name()).cursor() as cr:
            qweb = api.Environment(cr, SUPERUSER_ID, {})["ir.qweb"]
            for bundle in WIDGET_BUNDLES:
                qweb._get_asset_bundle(bundle, css=False, js=True).js()
            qweb._get_asset_bundle(WIDGET_BUNDLES[0], css=True, js=False).css()

    def visitor_chats(self, tour):
        """A visitor chats in the widget and ends the chat (``tour``); return the dialog."""
        self.start_tour(f"/im_livechat/support/{self.line.livechat_channel_id.id}", tour)
        return self.env["openlines.dialog"].search([("line_id", "=", self.line.id), ("source", "=", "site")])

    def test_no_rating_form_when_the_line_asks_none(self):
        dialog = self.visitor_chats("openlines_widget_no_rating")
        self.assertEqual(len(dialog), 1)
        self.assertEqual((dialog.state, dialog.rating_requested, dialog.rating_value), ("closed", False, 0))

    def test_the_rating_form_reaches_the_dialog(self):
        self.line.rating_request = True
        dialog = self.visitor_chats("openlines_widget_rating")
        self.assertEqual(len(dialog), 1)
        self.assertEqual((dialog.state, dialog.rating_requested), ("closed", True))
        self.assertEqual((dialog.rating_value, dialog.rating_comment), (5, "Быстро ответили"))
