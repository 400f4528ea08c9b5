"""End to end in a real browser: a Telegram client writes, the operator answers
from Discuss (web client, headless Chromium), the answer reaches Telegram."""

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import get_db_name, tagged

from .common import OpenlinesCase

ANSWER = "Да, доставляем за 2 дня"


@tagged("post_install", "-at_install")
class TestDiscussTour(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        cls._pregenerate_assets()
        super().setUpClass()

    @classmethod
    def _pregenerate_assets(cls):
        """Build the web client's bundles once, committed, before the test transaction.

        ``odoo-bin --test-enable`` does the same (``_pregenerate_assets_bundles``)
        before post-install HTTP tests; other runners (pytest-odoo) do not, and
        then the browser's first asset request compiles them inside the test
        cursor for 20 s or more, while the web client's RPCs wait for that
        cursor and fail (``Unable to acquire lock for test cursor``).  A no-op
        when the bundles are already up to date.
        """
        with Registry(get_db_name()).cursor() as cr:
            qweb = api.Environment(cr, SUPERUSER_ID, {})["ir.qweb"]
            for bundle in ("web.assets_web", "web.assets_tests", "web.assets_emoji", "bus.websocket_worker_assets"):
                qweb._get_asset_bundle(bundle, css=False, js=True).js()
            for bundle in ("web.assets_web", "web.assets_web_print"):
                qweb._get_asset_bundle(bundle, css=True, js=False).css()

    def test_operator_answers_from_discuss(self):
        self.receive(self.fixture("reply"))
        dialog = self.dialog_of()
        self.assertTrue(dialog.discuss_channel_id, "the client's message opened a live-chat session")
        self.assertEqual(dialog.discuss_channel_id.livechat_operator_id, self.operator.partner_id)
        self.fake.calls.clear()

        self.start_tour("/odoo/discuss", "openlines_discuss_tour", login="ol_operator")

        answer = dialog.discuss_channel_id.message_ids.filtered(lambda m: m.author_id == self.operator.partner_id)
        self.assertEqual(len(answer), 1, "the operator's answer was posted once, from the browser")
        self.assertEqual(answer.message_type, "comment")
        self.send()
        calls = self.fake.calls_of("sendMessage")
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(str(calls[0]["chat_id"]), "1111111")
        self.assertEqual(calls[0]["text"], ANSWER)
