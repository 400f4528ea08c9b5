from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import WEBHOOK, OpenlinesCase


@tagged("post_install", "-at_install")
class TestWebhook(OpenlinesCase):
    """POST /openlines/webhook/<key>: verify, store, answer; never a 500."""

    def test_genuine_update_is_stored_and_acknowledged(self):
        response = self.post_update(self.fixture("text"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"ok": True})
        row = self.rows()
        self.assertEqual(len(row), 1)
        self.assertEqual(row.external_id, "10000")
        self.assertEqual(row.state, "pending")
        self.assertIn('"text": "/start"', row.payload)

    def test_redelivery_three_times_creates_one_row_and_one_message(self):
        update = self.fixture("text")
        for _i in range(3):
            self.assertEqual(self.post_update(update).status_code, 200)
        self.assertEqual(len(self.rows()), 1)
        self.process()
        self.post_update(update)  # even after processing
        self.process()
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(len(self.client_messages(self.dialog_of())), 1)

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_forged_secret_is_refused_and_writes_nothing(self):
        response = self.post_update(self.fixture("text"), secret="forged")
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.rows())

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_missing_secret_is_refused(self):
        self.assertEqual(self.post_update(self.fixture("text"), secret=None).status_code, 403)
        self.assertFalse(self.rows())

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_malformed_json_is_400(self):
        self.assertEqual(self.post_update(b'{"update_id": 1, "message": ').status_code, 400)
        self.assertEqual(self.post_update(b"[1, 2]").status_code, 400)
        self.assertEqual(self.post_update(b'{"message": {}}').status_code, 400)  # no update_id
        self.assertFalse(self.rows())

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_unknown_key_is_404(self):
        response = self.post_update(self.fixture("text"), url=WEBHOOK % ("x" * 43))
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.post_update(self.fixture("text"), url=WEBHOOK % "short").status_code, 404)
        self.assertFalse(self.rows())

    def test_get_is_not_a_telegram_verb(self):
        self.assertEqual(self.url_open(self.webhook_url).status_code, 405)

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_unknown_update_kind_is_accepted_and_ignored(self):
        update = {"update_id": 777, "some_future_update": {"id": 1, "x": [1, 2]}}
        self.assertEqual(self.post_update(update).status_code, 200)
        self.process()
        row = self.rows()
        self.assertEqual(row.state, "ignored")
        self.assertIn("some_future_update", row.last_error)
        self.assertFalse(self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)]))
