import json
from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import OpenlinesCase


class RoutingCase(OpenlinesCase):
    """Three operators on the test line, all online."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = "base.group_user,openlines_connector.group_openlines_manager"
        cls.op2 = new_test_user(cls.env, login="ol_op2", name="Pavel Second", groups=groups)
        cls.op3 = new_test_user(cls.env, login="ol_op3", name="Nina Third", groups=groups)
        cls.line.write({"user_ids": [(6, 0, (cls.operator | cls.op2 | cls.op3).ids)]})

    def setUp(self):
        super().setUp()
        for user in (self.op2, self.op3):
            self.env["mail.presence"]._update_presence(user)

    def offline(self, *users):
        self.env["mail.presence"].search([("user_id", "in", [u.id for u in users])]).unlink()

    def set_order(self, *users):
        self.line.operator_ids = [(5, 0, 0)] + [(0, 0, {"user_id": u.id, "sequence": i}) for i, u in enumerate(users)]


@tagged("post_install", "-at_install")
class TestRouting(RoutingCase):
    """Who gets a dialog: distribution modes, availability, pass to next, queue, transfer, auto-close."""

    # -- distribution -------------------------------------------------------------------
    def test_evenly_gives_the_dialog_to_the_least_busy_operator(self):
        self.offline(self.op2, self.op3)
        first = self.client_writes(501)
        self.assertEqual(first.operator_id, self.operator)
        self.env["mail.presence"]._update_presence(self.op2)
        second = self.client_writes(502)
        self.assertEqual(second.operator_id, self.op2, "the operator with fewer open dialogs")
        self.env["mail.presence"]._update_presence(self.op3)
        self.assertEqual(self.client_writes(503).operator_id, self.op3)

    def test_strictly_in_order_takes_the_first_available(self):
        self.line.distribution_mode = "strict"
        self.set_order(self.op3, self.op2, self.operator)
        self.assertEqual(self.line.user_ids, self.operator | self.op2 | self.op3, "agents follow the list")
        self.assertEqual(self.client_writes(511).operator_id, self.op3)
        self.assertEqual(self.client_writes(512).operator_id, self.op3, "order, not load")
        self.offline(self.op3)
        self.assertEqual(self.client_writes(513).operator_id, self.op2)

    def test_to_all_at_once_the_first_to_answer_gets_it(self):
        self.line.distribution_mode = "all"
        dialog = self.client_writes(521)
        self.assertEqual(dialog.state, "queued")
        members = dialog.discuss_channel_id.channel_member_ids.partner_id
        self.assertTrue({self.operator.partner_id, self.op2.partner_id, self.op3.partner_id} <= set(members))
        self.operator_reply(dialog, "Я отвечу", user=self.op2)
        self.assertEqual(dialog.operator_id, self.op2)
        members = dialog.discuss_channel_id.channel_member_ids.partner_id
        self.assertNotIn(self.operator.partner_id, members)
        self.assertNotIn(self.op3.partner_id, members)

    def test_to_all_at_once_tells_the_queue_only_when_nobody_was_offered(self):
        self.line.distribution_mode = "all"
        self.client_writes(522)
        self.send()
        self.assertFalse(self.fake.calls_of("sendMessage"), "offered to the operators: nobody says 'you are number N'")
        self.offline(self.operator, self.op2, self.op3)
        waiting = self.client_writes(523)
        self.assertFalse(
            waiting.discuss_channel_id.channel_member_ids.filtered(
                lambda m: m.livechat_member_type == "agent" and m.partner_id.user_ids
            )
        )
        self.send()
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(len(texts), 1, texts)
        self.assertIn("number 1 in the queue", texts[0], "the offered dialog before it is not a place in the queue")

    # -- availability ------------------------------------------------------------------
    def test_archived_offline_and_busy_operators_get_nothing(self):
        self.line.write({"distribution_mode": "strict", "max_dialogs_per_operator": 1})
        self.set_order(self.operator, self.op2, self.op3)
        self.op2.active = False  # a fired employee
        self.offline(self.op3)
        self.assertEqual(self.client_writes(531).operator_id, self.operator)
        dialog = self.client_writes(532)
        self.assertFalse(dialog.operator_id, "the only active online operator is at the limit")
        self.assertEqual(dialog.state, "queued")

    def test_operators_on_leave_get_nothing(self):
        self.line.distribution_mode = "strict"
        self.set_order(self.op2, self.operator)
        now = fields.Datetime.now()
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Vacation",
                "resource_id": self.op2.resource_ids[:1].id
                or self.env["resource.resource"].create({"name": self.op2.name, "user_id": self.op2.id}).id,
                "date_from": now - timedelta(days=1),
                "date_to": now + timedelta(days=1),
            }
        )
        self.assertEqual(self.client_writes(541).operator_id, self.operator)

    def test_nobody_gets_dialogs_out_of_working_hours(self):
        self.line.resource_calendar_id = self.env.ref("resource.resource_calendar_std")  # Mon-Fri, 8-17
        sunday = datetime(2026, 11, 29, 12, 0)
        monday = datetime(2026, 11, 30, 11, 0)
        with freeze_time(sunday):
            self.assertFalse(self.line._available_operators())
        with freeze_time(monday):
            self.assertTrue(self.line._available_operators())

    # -- pass to next, queue ---------------------------------------------------------------
    def test_unanswered_dialog_passes_to_the_next_operator(self):
        self.line.write({"distribution_mode": "strict", "answer_timeout": 5})
        self.set_order(self.operator, self.op2)
        self.offline(self.op3)
        dialog = self.client_writes(551)
        self.assertEqual(dialog.operator_id, self.operator)
        self.assertTrue(dialog.assign_deadline)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=6)):
            self.env["openlines.dialog"]._cron_route()
        self.assertEqual(dialog.operator_id, self.op2)
        self.assertEqual(dialog.skipped_operator_ids, self.operator)
        members = dialog.discuss_channel_id.channel_member_ids.partner_id
        self.assertIn(self.op2.partner_id, members)
        self.assertNotIn(self.operator.partner_id, members)
        self.assertIn("did not answer within 5 minutes", dialog.discuss_channel_id.message_ids[0].body)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=12)):
            self.env["openlines.dialog"]._cron_route()
        self.assertEqual(dialog.state, "queued", "nobody left: the dialog waits in the queue")

    def test_an_answer_stops_the_clock(self):
        self.line.answer_timeout = 5
        dialog = self.client_writes(561)
        operator = dialog.operator_id
        self.operator_reply(dialog, "Добрый день", user=operator)
        self.assertFalse(dialog.assign_deadline)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=6)):
            self.env["openlines.dialog"]._cron_route()
        self.assertEqual(dialog.operator_id, operator)

    def test_queue_tells_the_client_its_position_and_assigns_when_someone_comes_online(self):
        self.offline(self.operator, self.op2, self.op3)
        first = self.client_writes(571)
        second = self.client_writes(572)
        self.assertEqual((first.state, second.state), ("queued", "queued"))
        self.send()
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertTrue(any("number 1 in the queue" in t for t in texts), texts)
        self.assertTrue(any("number 2 in the queue" in t for t in texts), texts)
        self.assertFalse(first.date_last_answer, "an automatic text is not an answer")
        self.env["mail.presence"]._update_presence(self.op2)
        self.env["openlines.dialog"]._cron_route()
        self.assertEqual(first.operator_id, self.op2)
        self.assertEqual(first.state, "assigned")

    # -- operators' actions and auto-close ----------------------------------------------------
    def test_transfer_to_an_operator_and_to_another_line(self):
        dialog = self.client_writes(581)
        previous = dialog.operator_id
        target = (self.op2 | self.op3 | self.operator - previous)[:1] - previous or self.op3
        dialog.action_transfer(target.id, note="VIP client")
        self.assertEqual(dialog.operator_id, target)
        self.assertNotIn(previous.partner_id, dialog.discuss_channel_id.channel_member_ids.partner_id)
        self.assertIn("VIP client", dialog.discuss_channel_id.message_ids[0].body)
        other = self.env["openlines.line"].create({"name": "Support", "user_ids": [(6, 0, self.op3.ids)]})
        dialog.action_transfer(line_id=other.id)
        self.assertEqual(dialog.line_id, other)
        self.assertEqual(dialog.discuss_channel_id.livechat_channel_id, other.livechat_channel_id)
        self.env["openlines.dialog"]._cron_route()
        self.assertEqual(dialog.operator_id, self.op3)
        with self.assertRaises(UserError):
            dialog.action_transfer()

    def test_silent_dialogs_close_themselves_with_a_closing_text(self):
        self.line.write({"auto_close_hours": 2, "close_message": "Диалог закрыт. Пишите, если будут вопросы!"})
        dialog = self.client_writes(591)
        with freeze_time(fields.Datetime.now() + timedelta(hours=3)):
            self.env["openlines.dialog"]._cron_route()
            self.send()
        self.assertEqual(dialog.state, "closed")
        self.assertIn("Диалог закрыт", self.fake.calls_of("sendMessage")[-1]["text"])

    def test_the_closing_text_also_follows_an_operators_close(self):
        self.line.close_message = "Спасибо за обращение!"
        dialog = self.client_writes(592)
        dialog.action_close()
        self.send()
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(texts.count("Спасибо за обращение!"), 1)

    def test_timeout_limits(self):
        with self.assertRaises(ValidationError):
            self.line.answer_timeout = 721
        self.line.answer_timeout = 720


@tagged("post_install", "-at_install")
class TestLineTexts(RoutingCase):
    """Welcome, off hours, transcript and "delete the chat" settings of a line."""

    def test_welcome_message_greets_a_new_dialog(self):
        self.line.welcome_message = "Здравствуйте! Это магазин «Ромашка»."
        self.client_writes(601)
        self.client_writes(601, "Ещё вопрос")  # same dialog: no second welcome
        self.send()
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(texts.count("Здравствуйте! Это магазин «Ромашка»."), 1)

    def test_off_hours_tells_the_client_and_keeps_the_dialog_in_the_queue(self):
        self.line.resource_calendar_id = self.env.ref("resource.resource_calendar_std")
        with freeze_time(datetime(2026, 11, 29, 12, 0)):  # a Sunday
            dialog = self.client_writes(611)
            self.send()
        self.assertEqual(dialog.state, "queued")
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertIn("We are closed now: we will answer as soon as we open.", texts)
        self.assertFalse([t for t in texts if "in the queue" in t], "off hours: no queue position")

    def test_off_hours_dialogs_can_go_to_another_line(self):
        night = self.env["openlines.line"].create({"name": "Night shift", "user_ids": [(6, 0, self.op3.ids)]})
        self.line.write(
            {
                "resource_calendar_id": self.env.ref("resource.resource_calendar_std").id,
                "off_hours_action": "line",
                "off_hours_line_id": night.id,
            }
        )
        with freeze_time(datetime(2026, 11, 29, 12, 0)):
            dialog = self.client_writes(621)
        self.assertEqual(dialog.line_id, night)
        self.assertEqual(dialog.operator_id, self.op3)
        with self.assertRaises(ValidationError):
            self.line.off_hours_line_id = False

    def test_transcript_is_emailed_on_close(self):
        self.line.send_transcript = True
        dialog = self.client_writes(631, "Где мой заказ 4711?")
        self.operator_reply(dialog, "Заказ 4711 уже в пути.")
        dialog.partner_id.email = "client@example.com"
        self.assertFalse(self.env["mail.mail"].search([("email_to", "=", "client@example.com")]))
        dialog.action_close()
        mail = self.env["mail.mail"].search([("email_to", "=", "client@example.com")])
        self.assertEqual(len(mail), 1, "the transcript was e-mailed once, to the client")
        for said in ("Где мой заказ 4711?", "Заказ 4711 уже в пути."):
            self.assertIn(said, mail.body_html, "the transcript holds both sides of the conversation")
        self.assertLess(mail.body_html.index("Где мой заказ"), mail.body_html.index("уже в пути"), "in order")

    def test_delete_the_chat_with_the_dialog_only_when_the_line_says_so(self):
        kept = self.client_writes(641)
        session = kept.discuss_channel_id
        kept.unlink()
        self.assertTrue(session.exists(), "history stays by default")
        self.line.delete_chat = True
        gone = self.client_writes(642)
        session = gone.discuss_channel_id
        gone.unlink()
        self.assertFalse(session.exists())


@tagged("post_install", "-at_install")
class TestRating(RoutingCase):
    """On close the client rates the dialog in Telegram; the rating lands in Odoo's ratings."""

    def setUp(self):
        super().setUp()
        self.line.rating_request = True
        self.dialog = self.client_writes(701)
        self.dialog.action_close()
        self.send()

    def test_closing_asks_for_a_rating_with_buttons(self):
        request = self.fake.calls_of("sendMessage")[-1]
        self.assertIn("Please rate", request["text"])
        markup = request["reply_markup"]
        markup = markup if isinstance(markup, dict) else json.loads(markup)
        data = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        self.assertEqual(data, ["rate:1", "rate:2", "rate:3", "rate:4", "rate:5"])

    def test_a_button_press_rates_the_dialog(self):
        press = self.fixture("callback_query", 30001)
        press["callback_query"]["from"]["id"] = press["callback_query"]["message"]["chat"]["id"] = 701
        self.receive(press)  # data "rate:5", as in the real sample
        self.assertEqual(self.dialog.rating_value, 5)
        rating = self.env["rating.rating"].search(
            [("res_model", "=", "discuss.channel"), ("res_id", "=", self.dialog.discuss_channel_id.id)]
        )
        self.assertEqual((rating.rating, rating.consumed), (5, True))
        self.assertEqual(self.dialog.state, "closed", "a rating does not reopen the dialog")

    def test_a_text_reply_rates_the_dialog_and_later_texts_are_messages(self):
        self.client_writes(701, "👎")
        self.assertEqual(self.dialog.rating_value, 1)
        self.assertEqual(self.dialog.state, "closed")
        self.client_writes(701, "4")  # already rated: an ordinary message, the dialog continues
        self.assertEqual(self.dialog.rating_value, 1)
        self.assertNotEqual(self.dialog.state, "closed")


@tagged("post_install", "-at_install")
class TestConsent(RoutingCase):
    """A line can require consent to personal-data processing before anything else."""

    def setUp(self):
        super().setUp()
        self.line.consent_required = True

    def dialogs(self):
        return self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)])

    def test_messages_wait_for_consent_then_arrive_in_order(self):
        self.client_writes(801, "Первое")
        self.client_writes(801, "Второе")
        self.assertFalse(self.dialogs(), "nothing reaches operators before consent")
        self.assertFalse(self.env["openlines.contact"].search([("external_id", "=", "801")]), "nor CRM")
        asks = [c for c in self.fake.calls_of("sendMessage") if "personal data" in c["text"]]
        self.assertEqual(len(asks), 1, "asked once, with buttons")
        self.client_writes(801, "Да")
        self.process()  # the held messages follow
        dialog = self.dialog_of("801")
        self.assertEqual([m.body for m in self.client_messages(dialog)], ["<p>Первое</p>", "<p>Второе</p>"])
        contact = dialog.contact_id
        self.assertTrue(contact.consent_date)
        self.assertEqual(contact.consent_version, 1)
        self.assertIn("personal data", contact.consent_text)
        self.assertEqual(dialog.consent_date, contact.consent_date)

    def test_a_refusal_gets_a_polite_answer_and_no_dialog(self):
        self.client_writes(811, "Хочу купить")
        self.client_writes(811, "нет")
        self.assertFalse(self.dialogs())
        self.assertIn("Without your consent", self.fake.calls_of("sendMessage")[-1]["text"])
        held = self.env["openlines.message"].search([("external_chat_id", "=", "811"), ("state", "=", "held")])
        self.assertEqual(len(held), 1, "the message is kept for a later consent")

    def test_ignored_request_keeps_holding(self):
        for text in ("раз", "два", "три"):
            self.client_writes(821, text)
        self.assertFalse(self.dialogs())
        self.assertEqual(
            self.env["openlines.message"].search_count([("external_chat_id", "=", "821"), ("state", "=", "held")]), 3
        )

    def test_changing_the_agreement_bumps_its_version(self):
        self.line.consent_text = "Новое соглашение"
        self.assertEqual(self.line.consent_version, 2)


def close_button(dialog):
    """The one *Close* button the dialog's form shows its user, as an lxml element."""
    form = Form(dialog)
    context = form._get_eval_context()
    [button] = [
        node
        for node in form._view["tree"].iter("button")
        if node.get("name") == "action_close" and not safe_eval(node.get("invisible") or "False", context)
    ]
    return button


@tagged("post_install", "-at_install")
class TestCloseConfirmation(RoutingCase):
    def test_the_close_button_asks_when_the_line_says_so(self):
        dialog = self.client_writes(901)
        self.assertTrue(dialog.close_confirmation, "on by default")
        self.assertIn("Close this dialog?", close_button(dialog.with_user(self.operator)).get("confirm", ""))
        self.line.close_confirmation = False
        self.assertFalse(dialog.close_confirmation)
        self.assertFalse(close_button(dialog.with_user(self.operator)).get("confirm"), "closes at once")
