"""Typing and read marks both ways (issue 16): what an operator does in Discuss reaches the
client's messenger through the sending cron -- never inside the operator's request -- and the
messengers' read reports turn the operator's marks blue.

Each test goes through Discuss's own routes (``/discuss/channel/notify_typing``,
``/discuss/channel/mark_as_read``) as the operator, runs the sending cron, and reads what the
loopback fake of the messenger received; the fakes refuse what the platforms refuse.
"""

import copy
import hashlib
import hmac
import json
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from ..connectors.avito import AvitoConnector
from ..connectors.base import ConnectorError
from ..connectors.meta import sign
from ..models.discuss_channel_member import DiscussChannelMember as OpenlinesHook
from .common import WEBHOOK, OpenlinesCase
from .fake_apple import FakeApple
from .fake_apple import load_fixture as apple_fixture
from .fake_avito import FakeAvito
from .fake_avito import load_fixture as avito_fixture
from .fake_meta import FakeMeta
from .fake_meta import load_fixture as meta_fixture
from .fake_ok import FakeOK
from .fake_ok import load_fixture as ok_fixture
from .fake_viber import FakeViber
from .fake_vk import FakeVK
from .fake_vk import load_fixture as vk_fixture
from .fake_whatsapp import FakeWhatsApp

APP_SECRET = "meta-app-secret"
VK_SECRET = "vk-secret_123"
VK_PEER = "87641997"
WA_CLIENT = "972987654321"
FB_CLIENT = "1436161156394835"
IG_CLIENT = "usr_101"
SEND_CRON = "openlines_connector.ir_cron_openlines_send"
#: queries the operator's typing / read request costs on top of Discuss's own: one statement (the dialog
#: found, the member checked, the row upserted and the sending cron's trigger added, all in one)
QUERIES = {"typing": 1, "read": 1}


@tagged("post_install", "-at_install")
class TestTypingAndReadMarks(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vk, cls.meta, cls.wa, cls.vb = (
            FakeVK().start(),
            FakeMeta().start(),
            FakeWhatsApp().start(),
            FakeViber().start(),
        )
        cls.apple, cls.ok, cls.avito = FakeApple().start(), FakeOK().start(), FakeAvito().start()
        for fake in (cls.vk, cls.meta, cls.wa, cls.vb, cls.apple, cls.ok, cls.avito):
            cls.addClassCleanup(fake.stop)
        cls.ch_apple = cls.env["openlines.channel"].create(
            {"name": "Apple", "line_id": cls.line.id, "channel_type": "apple",
             "apple_business_id": cls.apple.business_id, "apple_msp_id": cls.apple.msp_id,
             "apple_msp_secret": cls.apple.secret, "api_base_url": cls.apple.api_url}
        )  # fmt: skip
        Channel = cls.env["openlines.channel"]
        meta = {"line_id": cls.line.id, "webhook_secret": APP_SECRET, "verify_token": "verify-me"}
        cls.ch_vk = Channel.create(
            dict(line_id=cls.line.id, name="VK", channel_type="vk", token=cls.vk.token, webhook_secret=VK_SECRET,
                 vk_group_id=cls.vk.group_id, vk_confirmation_code="c0de42", api_base_url=cls.vk.url)
        )  # fmt: skip
        cls.ch_fb, cls.ch_ig = (
            Channel.create(
                meta | {"name": kind, "channel_type": kind, "token": cls.meta.token,
                        "meta_page_id": cls.meta.page_id, "api_base_url": cls.meta.url}
            )
            for kind in ("messenger", "instagram")
        )  # fmt: skip
        cls.ch_wa = Channel.create(
            meta | {"name": "WA", "channel_type": "whatsapp", "token": cls.wa.token,
                    "wa_phone_number_id": cls.wa.phone_id, "api_base_url": cls.wa.url}
        )  # fmt: skip
        cls.ch_ok = Channel.create(
            {"line_id": cls.line.id, "name": "OK", "channel_type": "ok", "token": cls.ok.token,
             "api_base_url": cls.ok.url}
        )  # fmt: skip
        cls.ch_avito = Channel.create(
            {"line_id": cls.line.id, "name": "Avito", "channel_type": "avito", "avito_client_id": cls.avito.client_id,
             "avito_client_secret": cls.avito.client_secret, "avito_user_id": cls.avito.user_id,
             "api_base_url": cls.avito.url}
        )  # fmt: skip
        cls.ch_vb = Channel.create(
            {"line_id": cls.line.id, "name": "VB", "channel_type": "viber", "token": cls.vb.token,
             "api_base_url": cls.vb.url, "sender_name": ""}
        )  # fmt: skip

    def setUp(self):
        super().setUp()
        for fake in (self.vk, self.meta, self.wa, self.vb, self.ok, self.avito):
            fake.calls.clear()
        self.ok.sender_actions.clear()
        self.avito.read_marks.clear()
        AvitoConnector.forget_tokens()
        self.meta.sender_actions.clear()
        self.meta.sent.clear()
        self.wa.sent.clear()
        self.wa.read_marks.clear()
        self.vk.activities.clear()
        self.vk.read_marks.clear()
        self.authenticate("ol_operator", "ol_operator")

    # -- helpers ----------------------------------------------------------------------------
    def post_signed(self, channel, payload):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
        response = self.url_open(WEBHOOK % channel.webhook_key, data=body, headers=headers)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()

    def dialog_on(self, channel, chat_id):
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", channel.id), ("contact_id.external_id", "=", chat_id)], order="id desc", limit=1
        )

    def post_json(self, channel, payload):
        body = payload if isinstance(payload, bytes) else json.dumps(payload)
        return self.url_open(WEBHOOK % channel.webhook_key, data=body, headers={"Content-Type": "application/json"})

    def post_vk(self, payload):
        """A genuine Callback API request (the channel's community and secret), then processing."""
        payload = dict(copy.deepcopy(payload), group_id=int(self.vk.group_id), secret=VK_SECRET)
        response = self.post_json(self.ch_vk, payload)
        self.assertEqual((response.status_code, response.text), (200, "ok"))
        self.process()

    def vk_writes(self, event_id="evt-typing-1"):
        self.post_vk(dict(vk_fixture("kutana_message_new_private_v5131"), event_id=event_id))
        return self.dialog_on(self.ch_vk, VK_PEER)

    def vk_types(self, from_id=VK_PEER, event_id="evt-typing-state-1"):
        payload = copy.deepcopy(vk_fixture("message_typing_state"))
        payload["object"]["from_id"] = int(from_id)
        self.post_vk(dict(payload, event_id=event_id))

    def typing_shown(self, since):
        """``(channel id, member id, isTyping)`` of the typing notices Discuss sent since bus row ``since``."""
        shown = []
        for notice in self.env["bus.bus"].search([("id", ">", since), ("message", "like", "isTyping")]):
            members = json.loads(notice.message)["payload"]["discuss.channel.member"]
            shown += [(json.loads(notice.channel)[2], m["id"], m["isTyping"]) for m in members if "isTyping" in m]
        return shown

    def last_bus_id(self):
        return self.env["bus.bus"].search([], order="id desc", limit=1).id

    def wa_writes(self, wamid="wamid.CLIENT1"):
        payload = meta_fixture("whatsapp", "text")
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
        self.wa.received.add(wamid)
        self.post_signed(self.ch_wa, payload)
        return self.dialog_on(self.ch_wa, WA_CLIENT)

    def typing(self, dialog, is_typing=True):
        return self.make_jsonrpc_request(
            "/discuss/channel/notify_typing", {"channel_id": dialog.discuss_channel_id.id, "is_typing": is_typing}
        )

    def opens(self, dialog):
        """The operator opens the conversation: Discuss marks it read up to its last message."""
        last = dialog.discuss_channel_id.message_ids.sorted("id")[-1]
        return self.make_jsonrpc_request(
            "/discuss/channel/mark_as_read", {"channel_id": dialog.discuss_channel_id.id, "last_message_id": last.id}
        )

    def signal(self, dialog):
        return self.env["openlines.signal"].search([("dialog_id", "=", dialog.id)])

    # -- Telegram ------------------------------------------------------------------------------
    def test_telegram_client_sees_typing_while_the_operator_types(self):
        dialog = self.client_writes(5550001)
        self.assertEqual(dialog.operator_id, self.operator)
        self.typing(dialog)
        self.assertFalse(self.fake.calls_of("sendChatAction"), "never called inside the operator's request")
        self.send()
        (call,) = self.fake.calls_of("sendChatAction")
        self.assertEqual((str(call["chat_id"]), call["action"]), ("5550001", "typing"))
        self.typing(dialog, is_typing=False)  # Telegram has no "stop typing": nothing more is sent
        self.send()
        self.assertEqual(len(self.fake.calls_of("sendChatAction")), 1)

    def test_typing_goes_out_at_most_once_in_five_seconds_per_dialog(self):
        dialog = self.client_writes(5550002)
        for _i in range(3):
            self.typing(dialog)
        self.send()
        self.typing(dialog)  # just sent: throttled
        self.send()
        self.assertEqual(len(self.fake.calls_of("sendChatAction")), 1)
        self.env.cr.execute(
            SQL(
                "UPDATE openlines_signal SET typing_sent_at = %s WHERE dialog_id = %s",
                fields.Datetime.now() - timedelta(seconds=6),
                dialog.id,
            )
        )
        self.typing(dialog)
        self.send()
        self.assertEqual(len(self.fake.calls_of("sendChatAction")), 2)

    def test_a_typing_mark_the_cron_reaches_too_late_is_dropped(self):
        dialog = self.client_writes(5550003)
        self.typing(dialog)
        self.env.cr.execute(
            SQL(
                "UPDATE openlines_signal SET typing_at = %s WHERE dialog_id = %s",
                fields.Datetime.now() - timedelta(seconds=30),
                dialog.id,
            )
        )
        self.send()
        self.assertFalse(self.fake.calls_of("sendChatAction"))

    def test_telegram_has_no_read_marks_and_nothing_is_queued(self):
        dialog = self.client_writes(5550004)
        self.opens(dialog)
        self.assertFalse(self.signal(dialog), "the Bot API has no read receipts: nothing to send")

    def test_a_failing_typing_call_never_stops_the_answers(self):
        dialog = self.client_writes(5550005)
        self.typing(dialog)
        self.operator_reply(dialog, "Здравствуйте!")
        self.fake.queue_error("sendChatAction", 500, "Internal Server Error")
        with mute_logger("odoo.addons.openlines_connector.models.openlines_signal"):
            self.send()
        self.assertEqual([c["text"] for c in self.fake.calls_of("sendMessage")][-1], "Здравствуйте!")
        out = self.env["openlines.message"].search([("dialog_id", "=", dialog.id), ("direction", "=", "out")])
        self.assertEqual(out.mapped("state"), ["done"])
        self.assertIn("Telegram", self.signal(dialog).last_error)

    def test_a_messenger_that_does_not_answer_is_not_waited_for_twice_in_a_run(self):
        first, second = self.client_writes(5550007), self.client_writes(5550008)
        self.typing(first)
        self.typing(second)
        self.fake.queue_error("sendChatAction", 500, "Internal Server Error", times=2)  # unreachable: retryable
        with mute_logger("odoo.addons.openlines_connector.models.openlines_signal"):
            self.send()
        self.assertEqual(len(self.fake.calls_of("sendChatAction")), 1, "the second dialog's mark is skipped")

    def test_the_client_and_a_closed_dialog_send_nothing(self):
        dialog = self.client_writes(5550006)
        client_member = dialog.discuss_channel_id.channel_member_ids.filtered(
            lambda m: m.partner_id == dialog.partner_id
        )
        client_member._notify_typing(True)  # the client's own member (an inbound echo of Discuss)
        self.assertFalse(self.signal(dialog))
        dialog.sudo()._mark_closed()
        self.typing(dialog)
        self.assertFalse(self.signal(dialog))

    # -- VK ----------------------------------------------------------------------------------------
    def test_vk_typing_and_read_go_through_set_activity_and_mark_as_read(self):
        dialog = self.vk_writes()
        self.typing(dialog)
        self.opens(dialog)
        self.send()
        (activity,) = self.vk.activities
        self.assertEqual(
            (activity["peer_id"], activity["type"], activity["group_id"]), (VK_PEER, "typing", self.vk.group_id)
        )
        (read,) = self.vk.read_marks
        self.assertEqual((read["peer_id"], read["group_id"], read["mark_conversation_as_read"]),
                         (VK_PEER, self.vk.group_id, "1"))  # fmt: skip
        self.opens(dialog)  # nothing new from the client: no second mark
        self.send()
        self.assertEqual(len(self.vk.read_marks), 1)

    # -- the client types: shown to the operator in Discuss ------------------------------------
    def test_vk_client_typing_is_shown_to_the_operator_in_discuss(self):
        dialog = self.vk_writes()
        session = dialog.discuss_channel_id
        client = session.channel_member_ids.filtered(lambda m: m.partner_id == dialog.partner_id)
        messages, since = len(session.message_ids), self.last_bus_id()
        self.vk_types()
        self.assertEqual(self.typing_shown(since), [(session.id, client.id, True)])
        row = self.env["openlines.message"].search([("channel_id", "=", self.ch_vk.id)], order="id desc", limit=1)
        self.assertEqual((row.state, row.dialog_id), ("done", dialog))
        self.assertEqual(len(session.message_ids), messages, "typing is no message")
        since = self.last_bus_id()  # VK says nothing when the client stops: their message ends the typing
        sent = copy.deepcopy(vk_fixture("kutana_message_new_private_v5131"))
        sent["object"]["message"].update(id=51164, conversation_message_id=46092, text="Когда доставка?")
        self.post_vk(dict(sent, event_id="evt-typing-2"))
        self.assertEqual(self.typing_shown(since), [(session.id, client.id, False)])

    def test_typing_in_an_unknown_chat_creates_nothing(self):
        contacts, dialogs = (
            self.env["openlines.contact"].search_count([]),
            self.env["openlines.dialog"].search_count([]),
        )
        since = self.last_bus_id()
        with mute_logger("odoo.addons.openlines_connector.models.openlines_message"):
            self.vk_types(from_id=5550999, event_id="evt-typing-unknown")
        self.assertEqual(self.env["openlines.contact"].search_count([]), contacts)
        self.assertEqual(self.env["openlines.dialog"].search_count([]), dialogs)
        self.assertFalse(self.typing_shown(since))
        row = self.env["openlines.message"].search([("external_id", "=", "evt-typing-unknown")])
        self.assertEqual(row.state, "ignored")
        self.assertIn("unknown chat", row.last_error)

    def test_vk_typing_in_a_group_chat_is_ignored(self):
        (event,) = self.ch_vk._get_connector().parse(
            {"type": "message_typing_state", "object": {"state": "typing", "from_id": 5, "to_id": 2000000001}}
        )
        self.assertEqual(event.kind, "ignore")

    def test_vk_subscribes_to_the_clients_typing_and_reading(self):
        self.ch_vk._get_connector().set_webhook("https://odoo.example/openlines/webhook/k3y", VK_SECRET)
        settings = self.vk.callback_settings
        self.assertEqual((settings.get("message_typing_state"), settings.get("message_read")), ("1", "1"))

    def test_vk_read_report_turns_the_answer_blue(self):
        dialog = self.vk_writes()
        self.operator_reply(dialog, "Добрый день!")
        self.send()
        out = self.env["openlines.message"].search([("dialog_id", "=", dialog.id), ("direction", "=", "out")])
        message_id = out.remote_message_id.partition(":")[2]
        read = copy.deepcopy(vk_fixture("message_read"))
        read["object"]["read_message_id"] = int(message_id)
        self.post_vk(read)
        self.assertEqual(out.delivery_status, "read")
        community = copy.deepcopy(read)  # the community reading (its admin in VK's interface) is no client's mark
        community["object"]["from_id"] = -int(self.vk.group_id)
        (event,) = self.ch_vk._get_connector().parse(community)
        self.assertEqual(event.kind, "ignore")

    # -- Odnoklassniki and Avito -------------------------------------------------------------------
    def test_ok_typing_and_read_go_as_sender_actions(self):
        response = self.post_json(self.ch_ok, ok_fixture("message_created"))
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        dialog = self.dialog_on(self.ch_ok, "chat:C404")
        self.typing(dialog)
        self.opens(dialog)
        self.assertFalse(self.ok.sender_actions, "never inside the operator's request")
        self.send()
        self.assertEqual(self.ok.sender_actions, [{"chat_id": "chat:C404", "sender_action": "mark_seen"},
                                                  {"chat_id": "chat:C404", "sender_action": "typing_on"}])  # fmt: skip
        self.assertFalse(self.ok.calls_of("messages")[-1].get("message"), "an action carries no message")
        with self.assertRaises(ConnectorError):  # OK documents no "typing off": the fake refuses it too
            self.ch_ok._get_connector()._sender_action("chat:C404", "typing_off")

    def test_avito_marks_the_chat_read_and_has_no_typing(self):
        payload = avito_fixture("message_text")
        chat_id = payload["payload"]["value"]["chat_id"]
        response = self.post_json(self.ch_avito, payload)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        dialog = self.dialog_on(self.ch_avito, chat_id)
        self.typing(dialog)
        self.assertFalse(self.signal(dialog), "Avito's API has no typing indicator: nothing to send")
        self.opens(dialog)
        self.send()
        self.assertEqual(self.avito.read_marks, [chat_id])
        self.assertEqual(len(self.avito.calls_of("read")), 1)

    # -- the operator's path stays cheap -----------------------------------------------------------
    def queries(self, call, reset=lambda: None):
        """SQL queries ``call()`` makes with the server's caches warm (a first call) and the
        records' cold (as on a new request), every openlines.signal row gone; ``reset`` undoes ``call``."""
        counts = []
        for _warm_then_measure in range(2):
            reset()
            self.env.cr.execute("DELETE FROM openlines_signal")
            self.env.invalidate_all()
            start = self.env.cr.sql_log_count
            call()
            counts.append(self.env.cr.sql_log_count - start)
        return counts[-1]

    def operator_member(self, dialog):
        members = dialog.discuss_channel_id.channel_member_ids
        return members.filtered(lambda m: m.partner_id == self.operator.partner_id).with_user(self.operator)

    def test_the_operators_typing_costs_one_statement(self):
        dialog = self.vk_writes()
        member = self.operator_member(dialog)
        discuss_only = self.queries(lambda: super(OpenlinesHook, member)._notify_typing(True))
        with_signal = self.queries(lambda: member._notify_typing(True))
        self.assertEqual(with_signal - discuss_only, QUERIES["typing"])
        self.assertTrue(self.signal(dialog).typing_due)
        self.assertTrue(self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.env.ref(SEND_CRON).id)]))

    def test_the_operators_read_mark_costs_one_statement(self):
        dialog = self.vk_writes()
        member = self.operator_member(dialog)
        last = dialog.discuss_channel_id.message_ids.sorted("id")[-1].id

        def unread():
            self.env.flush_all()
            self.env.cr.execute(
                "UPDATE discuss_channel_member SET seen_message_id = NULL, new_message_separator = 0 WHERE id = %s",
                [member.id],
            )

        discuss_only = self.queries(lambda: super(OpenlinesHook, member)._mark_as_read(last), unread)
        with_signal = self.queries(lambda: member._mark_as_read(last), unread)
        self.assertEqual(with_signal - discuss_only, QUERIES["read"])
        self.assertEqual(self.signal(dialog).read_upto, last)
        stopped = self.queries(lambda: member._notify_typing(False))  # stopped typing: nothing to ask
        self.assertEqual(stopped, self.queries(lambda: super(OpenlinesHook, member)._notify_typing(False)))

    # -- VK: a body too deep to parse ----------------------------------------------------------------
    def test_a_too_deep_vk_body_is_refused_by_the_webhooks_guard(self):
        deep = b'{"type": "message_new", "object": ' + b"[" * 100000 + b"]" * 100000 + b"}"
        rows = self.env["openlines.message"].search_count([])
        with mute_logger("odoo.addons.openlines_connector.controllers.webhook"):
            response = self.post_json(self.ch_vk, deep)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.env["openlines.message"].search_count([]), rows)

    # -- Messenger and Instagram ------------------------------------------------------------------
    def test_messenger_and_instagram_get_typing_on_and_mark_seen(self):
        self.post_signed(self.ch_fb, meta_fixture("messenger", "text"))
        self.post_signed(self.ch_ig, meta_fixture("instagram", "text"))
        for channel, client in ((self.ch_fb, FB_CLIENT), (self.ch_ig, IG_CLIENT)):
            dialog = self.dialog_on(channel, client)
            self.opens(dialog)
            self.typing(dialog)
        self.send()
        self.assertEqual(
            sorted((a["recipient"]["id"], a["sender_action"]) for a in self.meta.sender_actions),
            sorted([(FB_CLIENT, "mark_seen"), (FB_CLIENT, "typing_on"), (IG_CLIENT, "mark_seen"),
                    (IG_CLIENT, "typing_on")]),
        )  # fmt: skip
        self.assertFalse(self.meta.sent, "a sender action carries no message")

    def test_instagram_read_report_turns_the_answer_blue(self):
        self.post_signed(self.ch_ig, meta_fixture("instagram", "text"))
        dialog = self.dialog_on(self.ch_ig, IG_CLIENT)
        self.operator_reply(dialog, "Olá!")
        self.send()
        out = self.env["openlines.message"].search([("dialog_id", "=", dialog.id), ("direction", "=", "out")])
        mid = out.remote_message_id.partition(":")[2]
        # Instagram's messaging_seen names the message read (developers.facebook.com instagram webhooks)
        read = {"object": "instagram", "entry": [{"id": "3136866194", "time": 1764000100000, "messaging": [
            {"sender": {"id": IG_CLIENT}, "recipient": {"id": "3136866194"}, "timestamp": 1764000100000,
             "read": {"mid": mid}}]}]}  # fmt: skip
        self.post_signed(self.ch_ig, read)
        self.assertEqual(out.delivery_status, "read")

    # -- WhatsApp ---------------------------------------------------------------------------------
    def test_whatsapp_typing_indicator_marks_the_clients_last_message_read(self):
        dialog = self.wa_writes("wamid.CLIENT1")
        self.typing(dialog)
        self.send()
        (call,) = self.wa.read_marks
        self.assertEqual(call["message_id"], "wamid.CLIENT1")
        self.assertEqual(call["typing_indicator"], {"type": "text"})
        self.wa_writes("wamid.CLIENT2")
        self.opens(dialog)
        self.send()
        self.assertEqual(self.wa.read_marks[-1], {"messaging_product": "whatsapp", "status": "read",
                                                  "message_id": "wamid.CLIENT2"})  # fmt: skip
        self.assertFalse(self.wa.sent, "a read mark is no message")

    def test_an_answer_alone_makes_no_read_call(self):
        dialog = self.wa_writes("wamid.CLIENT3")
        self.operator_reply(dialog, "Добрый день!")
        self.send()
        self.assertFalse(self.wa.read_marks, "only opening the conversation marks it read")
        self.assertEqual([m["text"]["body"] for m in self.wa.sent], ["Добрый день!"])

    # -- Apple ---------------------------------------------------------------------------------------
    def test_apple_customer_sees_the_business_typing(self):
        customer = "urn:mbid:AQAAYyUbut6E4B3T9FLv5EbG/TYPING"
        payload = apple_fixture("courier_text_hello_business")
        payload.update(destinationId=self.apple.business_id, sourceId=customer, id="UUID-TYPING-1")
        body, headers = self.apple.inbound(payload)
        response = self.url_open(WEBHOOK % self.ch_apple.webhook_key + "/message", data=body, headers=headers)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        dialog = self.dialog_on(self.ch_apple, customer)
        self.apple.messages.clear()
        self.typing(dialog)
        self.opens(dialog)  # Apple has no read mark to send
        self.send()
        self.assertEqual([(m["type"], m["destinationId"]) for m in self.apple.messages], [("typing_start", customer)])

    # -- Viber ---------------------------------------------------------------------------------------
    def test_viber_seen_turns_the_answer_blue(self):
        payload = meta_fixture("viber", "message_text")
        self._post_viber(payload)
        client = payload["sender"]["id"]
        dialog = self.dialog_on(self.ch_vb, client)
        self.operator_reply(dialog, "Hello!")
        self.send()
        out = self.env["openlines.message"].search([("dialog_id", "=", dialog.id), ("direction", "=", "out")])
        token = out.remote_message_id.partition(":")[2]
        self._post_viber({"event": "seen", "timestamp": 1595324652811, "message_token": int(token),
                          "user_id": client})  # fmt: skip
        self.assertEqual(out.delivery_status, "read")
        self.opens(dialog)
        self.assertFalse(self.signal(dialog), "Viber's bot API has no read mark to send")

    def _post_viber(self, payload):
        body = json.dumps(payload).encode()
        signature = hmac.new(self.ch_vb.token.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Viber-Content-Signature": signature}
        response = self.url_open(WEBHOOK % self.ch_vb.webhook_key, data=body, headers=headers)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
