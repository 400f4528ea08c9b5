"""The client's typing, seen by the operator in a real browser (issue 16).

The operator has a VK client's conversation open in Discuss and starts an answer; the client
types in VK: VK's Callback API posts ``message_typing_state`` to the webhook, the processing
cron runs, and Discuss shows "… is typing" under the conversation, pushed over the bus.

The browser tour waits while this test's helper thread plays VK: once the operator's own
typing reached the server (the dialog's ``openlines.signal`` row), it posts the client's typing
to the webhook and runs the processing cron, through test cursors as the web requests do.
"""

import copy
import json
import threading
import time

import requests

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME

from . import test_tour
from .common import WEBHOOK, OpenlinesCase
from .fake_vk import FakeVK, load_fixture

VK_SECRET = "vk-secret_tour"
CLIENT = 87641997  # the user of the kutana_message_new_private_v5131 fixture
PROCESS_CRON = "openlines_connector.ir_cron_openlines_process"
#: seconds the helper waits for the operator to type (the tour's own timeout is longer)
OPERATOR_TYPES_WITHIN = 150


@tagged("post_install", "-at_install")
class TestTypingTour(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        test_tour.TestDiscussTour._pregenerate_assets()
        super().setUpClass()
        cls.vk = FakeVK().start()
        cls.addClassCleanup(cls.vk.stop)
        cls.ch_vk = cls.env["openlines.channel"].create(
            {"line_id": cls.line.id, "name": "VK", "channel_type": "vk", "token": cls.vk.token,
             "webhook_secret": VK_SECRET, "vk_group_id": cls.vk.group_id, "vk_confirmation_code": "c0de42",
             "api_base_url": cls.vk.url}
        )  # fmt: skip

    def post_vk(self, payload, event_id, in_thread=False):
        """VK's Callback API request; from the helper thread, past ``url_open`` (which takes the test's lock
        in the test's thread only), with the test's cookie that lets a request in."""
        payload = dict(copy.deepcopy(payload), event_id=event_id, group_id=int(self.vk.group_id), secret=VK_SECRET)
        url, body, headers = WEBHOOK % self.ch_vk.webhook_key, json.dumps(payload), {"Content-Type": "application/json"}
        if in_thread:
            cookies = {TEST_CURSOR_COOKIE_NAME: self.http_request_key}  # the key of the running tour
            response = requests.post(self.base_url() + url, data=body, headers=headers, cookies=cookies, timeout=60)
        else:
            response = self.url_open(url, data=body, headers=headers)
        if (response.status_code, response.text) != (200, "ok"):
            raise AssertionError(f"the webhook answered {response.status_code}: {response.text}")

    def test_operator_sees_the_client_typing(self):
        self.env["mail.presence"]._update_presence(self.operator)
        self.post_vk(load_fixture("kutana_message_new_private_v5131"), "evt-tour-message")
        self.process()
        dialog = self.env["openlines.dialog"].search([("channel_id", "=", self.ch_vk.id)])
        self.assertEqual(dialog.operator_id, self.operator)
        session = dialog.discuss_channel_id
        messages = len(session.message_ids)

        errors, tour_over = [], threading.Event()
        client = threading.Thread(target=self._client_types_after_the_operator, args=(dialog.id, errors, tour_over))
        client.start()
        try:
            self.start_tour("/odoo/discuss", "openlines_typing_tour", login="ol_operator", timeout=180)
        finally:
            tour_over.set()  # a tour that failed early: the helper stops waiting
            client.join(OPERATOR_TYPES_WITHIN + 30)
        self.assertEqual(errors, [])

        self.env.invalidate_all()
        typing = self.env["openlines.message"].search([("external_id", "=", "evt-tour-typing")])
        self.assertEqual((typing.state, typing.dialog_id), ("done", dialog))
        self.assertEqual(len(session.message_ids), messages, "the client's typing is no message")

    def _client_types_after_the_operator(self, dialog_id, errors, tour_over):
        """VK's side, in a thread: the client types once the operator typed (their signal row is due)."""
        try:
            deadline = time.monotonic() + OPERATOR_TYPES_WITHIN
            while not self._operator_typed(dialog_id):
                if tour_over.is_set() or time.monotonic() > deadline:
                    raise AssertionError("the operator's typing never reached the server")
                tour_over.wait(0.5)
            typing = copy.deepcopy(load_fixture("message_typing_state"))
            typing["object"]["from_id"] = CLIENT
            self.post_vk(typing, "evt-tour-typing", in_thread=True)
            with self.registry.cursor() as cr:  # a test cursor, as the cron worker's would be
                api.Environment(cr, SUPERUSER_ID, {}).ref(PROCESS_CRON).method_direct_trigger()
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
            errors.append(repr(exc))

    def _operator_typed(self, dialog_id):
        with self.registry.cursor() as cr:
            cr.execute("SELECT 1 FROM openlines_signal WHERE dialog_id = %s AND typing_due", [dialog_id])
            return bool(cr.fetchone())
