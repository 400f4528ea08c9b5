import importlib.util
from datetime import datetime, timedelta
from pathlib import Path

from odoo import fields
from odoo.tests import new_test_user, tagged

from odoo.addons.mail.tests.common import freeze_all_time

from .test_routing import RoutingCase

#: a Sunday noon (the standard calendar works Monday to Friday, 8 to 17)
SUNDAY = datetime(2026, 11, 29, 12, 0)
MONDAY = datetime(2026, 11, 30, 10, 0)
LIVECHAT_USER = "im_livechat.im_livechat_group_user"


@tagged("post_install", "-at_install")
class TestWidgetLine(RoutingCase):
    """The site widget obeys its line like a messenger: a site visitor (``/im_livechat/get_session``,
    ``/mail/message/post`` as the visitor) and a Telegram client (the fake Bot API) of the same line
    meet the same routing, hours, texts and consent, side by side."""

    # -- the two clients ------------------------------------------------------------------
    def visitor_opens(self):
        """A new site visitor opens the line's widget: their session (or an empty one when refused)."""
        self.opener.cookies.clear()  # a new visitor: no guest of an earlier one
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": self.line.livechat_channel_id.id})
        self.env.invalidate_all()
        self.widget_store = data["store_data"] if data else {}
        return self.env["discuss.channel"].browse(data["channel_id"] if data else [])

    def widget_asks_rating(self, session):
        """Whether the widget shows its rating form when the chat ends, as the session's data tells it."""
        (channel,) = [c for c in self.widget_store["discuss.channel"] if c["id"] == session.id]
        return channel["openlines_rating_request"]

    def visitor_leaves_and_rates(self, session, rate, reason):
        """The visitor ends the chat and sends the rating form: the rating's id, False when refused."""
        self.make_jsonrpc_request("/im_livechat/visitor_leave_session", {"channel_id": session.id})
        rating = self.make_jsonrpc_request(
            "/im_livechat/feedback", {"channel_id": session.id, "rate": rate, "reason": reason}
        )
        self.env.invalidate_all()
        return rating

    def visitor_says(self, session, text):
        self.make_jsonrpc_request(
            "/mail/message/post",
            {
                "thread_model": "discuss.channel",
                "thread_id": session.id,
                "post_data": {"body": text, "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
            },
        )
        self.env.invalidate_all()
        return session.openlines_dialog_id

    def visitor_reads(self, session):
        """What the line told the visitor in the widget (OdooBot's messages), oldest first."""
        root = self.env.ref("base.partner_root")
        messages = session.message_ids.filtered(lambda m: m.author_id == root and m.message_type == "comment")
        return [m.body for m in messages.sorted("id")]

    def telegram_reads(self):
        """What the Telegram clients received, oldest first."""
        self.send()
        return [call["text"] for call in self.fake.calls_of("sendMessage")]

    def widget_offered(self):
        livechat_channel = self.line.livechat_channel_id
        init = self.make_jsonrpc_request("/mail/data", {"fetch_params": [["init_livechat", livechat_channel.id]]})
        self.env.invalidate_all()
        return livechat_channel.get_livechat_info()["available"], init["Store"]["livechat_available"]

    def widget_sessions(self):
        livechat_channel = self.line.livechat_channel_id
        return self.env["discuss.channel"].search_count([("livechat_channel_id", "=", livechat_channel.id)])

    # -- operators ---------------------------------------------------------------------------
    def test_a_line_staffed_by_managers_answers_its_widget(self):
        """The line's operators are the widget's agents without the Live Chat group, also after losing it."""
        self.offline(self.operator, self.op3)
        demoted = new_test_user(
            self.env,
            login="ol_demoted",
            name="Dmitri Demoted",
            groups="base.group_user,openlines_connector.group_openlines_director",
        )
        self.line.write({"user_ids": [(6, 0, demoted.ids)], "distribution_mode": "strict"})
        self.assertEqual(self.line.operator_ids.user_id, demoted, "the ordered list follows the agents")
        manager = self.env.ref("openlines_connector.group_openlines_manager")
        demoted.write({"group_ids": [(6, 0, (self.env.ref("base.group_user") | manager).ids)]})
        self.assertFalse(demoted.has_group(LIVECHAT_USER))
        self.assertEqual(self.line.user_ids, demoted, "losing the Live Chat group does not take him off the line")
        self.assertEqual(self.line.operator_ids.user_id, demoted)
        self.env["mail.presence"]._update_presence(demoted)
        session = self.visitor_opens()
        self.assertEqual(session.livechat_operator_id, demoted.partner_id)
        self.assertEqual(session.openlines_dialog_id.operator_id, demoted)
        other = self.env["im_livechat.channel"].create({"name": "Not a line", "user_ids": [(6, 0, self.op2.ids)]})
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": other.id})
        self.assertFalse(
            self.env["discuss.channel"].with_user(demoted).search([("id", "=", data["channel_id"])]),
            "an operator of a line reads no other live-chat channel's sessions",
        )

    def test_routing_strictly_in_order_side_by_side(self):
        """Strictly in order: the first of the list gets both, busy or not (im_livechat would pick the least busy)."""
        self.line.distribution_mode = "strict"
        self.set_order(self.op2, self.operator, self.op3)
        self.assertEqual(self.line.user_ids, self.op2 | self.operator | self.op3)
        self.assertEqual(self.client_writes(901).operator_id, self.op2)
        session = self.visitor_opens()
        self.assertEqual(session.openlines_dialog_id.operator_id, self.op2)
        self.assertEqual(session.livechat_operator_id, self.op2.partner_id)

    def test_limit_per_operator_queues_both_with_the_queue_text(self):
        self.line.write({"max_dialogs_per_operator": 1, "distribution_mode": "strict"})
        self.offline(self.op2, self.op3)
        busy = self.client_writes(911)
        self.assertEqual(busy.operator_id, self.operator)
        telegram = self.client_writes(912)
        self.assertEqual((telegram.state, telegram.operator_id.id), ("queued", False))
        self.assertEqual(self.widget_offered(), (True, True), "the widget stays offered: the visitor queues")
        session = self.visitor_opens()
        self.assertTrue(session, "a session even though nobody can answer now")
        self.assertFalse(session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "agent"))
        site = self.visitor_says(session, "Здравствуйте")
        self.assertEqual((site.state, site.operator_id.id), ("queued", False))
        self.assertTrue(any("number 1 in the queue" in t for t in self.telegram_reads()))
        self.assertIn("number 2 in the queue", self.visitor_reads(session)[-1])
        busy.action_close()  # the operator frees up: the oldest queued dialog is his
        self.env["openlines.dialog"]._cron_route()
        self.assertEqual(telegram.operator_id, self.operator)
        self.assertFalse(site.operator_id, "at his limit again")

    def test_the_queue_position_is_one_count(self):
        """The place in the queue is one query however long the queue, counting dialogs offered to nobody."""
        self.line.write({"max_dialogs_per_operator": 1, "distribution_mode": "strict"})
        self.offline(self.op2, self.op3)
        self.assertEqual(self.client_writes(1101).operator_id, self.operator)
        queued = [self.client_writes(chat_id) for chat_id in range(1102, 1108)]
        self.assertEqual([d.state for d in queued], ["queued"] * 6)
        queued[1]._offer(self.op2)  # offered to an operator: no longer waiting in the queue
        session = self.visitor_opens()
        site = self.visitor_says(session, "Я в очереди?")
        self.assertIn("number 6 in the queue", self.visitor_reads(session)[-1], "7 queued before, one offered")
        self.env.ref("base.partner_root")
        self.env.flush_all()
        self.env.invalidate_all()
        with self.assertQueryCount(3):  # OdooBot (env.ref checks it exists), the dialog's line, the count
            self.assertEqual(site._queue_position(), 6)
        self.assertEqual([d._queue_position() for d in queued], [1, 2, 2, 3, 4, 5])

    def test_off_hours_side_by_side(self):
        self.line.resource_calendar_id = self.env.ref("resource.resource_calendar_std")
        with freeze_all_time(SUNDAY):
            telegram = self.client_writes(921)
            self.assertEqual(self.widget_offered(), (True, True))
            session = self.visitor_opens()
            site = self.visitor_says(session, "Вы работаете?")
        for dialog in (telegram, site):
            self.assertEqual((dialog.state, dialog.operator_id.id), ("queued", False))
        self.assertIn("We are closed now", self.telegram_reads()[-1])
        self.assertIn("We are closed now", self.visitor_reads(session)[-1])
        self.assertNotIn("in the queue", " ".join(self.visitor_reads(session)), "off hours: no place in the queue")
        with freeze_all_time(MONDAY):
            self.env["openlines.dialog"]._cron_route()
        self.assertTrue(telegram.operator_id and site.operator_id, "both go to operators when the line opens")

    def test_welcome_and_closing_texts_side_by_side(self):
        self.line.write({"welcome_message": "Добро пожаловать!", "close_message": "Спасибо, до свидания!"})
        telegram = self.client_writes(931)
        session = self.visitor_opens()
        site = self.visitor_says(session, "Здравствуйте")
        self.assertEqual(self.telegram_reads(), ["Добро пожаловать!"])
        self.assertEqual(len(self.visitor_reads(session)), 1)
        self.assertIn("Добро пожаловать!", self.visitor_reads(session)[0])
        (telegram | site).action_close()
        self.assertEqual(self.telegram_reads()[-1], "Спасибо, до свидания!")
        self.assertIn("Спасибо, до свидания!", self.visitor_reads(session)[-1])

    def test_no_rating_asked_when_the_line_asks_none(self):
        """Rating off: neither the Telegram client nor the site visitor is asked; the widget's form takes nothing."""
        self.assertFalse(self.line.rating_request)
        telegram = self.client_writes(1201)
        session = self.visitor_opens()
        self.assertIs(self.widget_asks_rating(session), False, "the widget shows no rating form")
        site = self.visitor_says(session, "Спасибо, всё понятно")
        telegram.action_close()
        self.assertFalse(any("rate" in text for text in self.telegram_reads()))
        self.assertFalse(self.visitor_leaves_and_rates(session, 5, "Отлично"), "a rating sent anyway is refused")
        self.assertEqual(site.state, "closed")
        self.assertFalse(
            self.env["rating.rating"]
            .sudo()
            .search([("res_model", "=", "discuss.channel"), ("res_id", "=", session.id)])
        )
        for dialog in (telegram, site):
            self.assertEqual((dialog.rating_requested, dialog.rating_value), (False, 0))

    def test_the_rating_reaches_the_dialog_side_by_side(self):
        """Rating on: both are asked when the dialog ends; the visitor's stars and comment reach the dialog."""
        self.line.rating_request = True
        telegram = self.client_writes(1211)
        session = self.visitor_opens()
        self.assertIs(self.widget_asks_rating(session), True)
        site = self.visitor_says(session, "Где мой заказ?")
        telegram.action_close()
        self.assertIn("Please rate our answers", self.telegram_reads()[-1])
        self.client_writes(1211, "4")
        rating = self.visitor_leaves_and_rates(session, 5, "Быстро ответили")
        self.assertTrue(rating)
        self.assertEqual(self.env["rating.rating"].sudo().browse(rating).res_id, session.id)
        self.assertEqual((telegram.rating_requested, telegram.rating_value), (True, 4))
        self.assertEqual((site.state, site.rating_requested, site.rating_value), ("closed", True, 5))
        self.assertEqual(site.rating_comment, "Быстро ответили")

    def test_pass_to_next_side_by_side(self):
        self.line.write({"distribution_mode": "strict", "answer_timeout": 5})
        self.set_order(self.operator, self.op2)
        self.offline(self.op3)
        telegram = self.client_writes(941)
        session = self.visitor_opens()
        site = self.visitor_says(session, "Алло?")
        self.assertEqual((telegram.operator_id, site.operator_id), (self.operator, self.operator))
        with freeze_all_time(fields.Datetime.now() + timedelta(minutes=6)):
            self.env["openlines.dialog"]._cron_route()
        self.assertEqual((telegram.operator_id, site.operator_id), (self.op2, self.op2))
        self.assertNotIn(self.operator.partner_id, session.channel_member_ids.partner_id)

    def test_to_all_at_once_offers_both_and_tells_no_queue(self):
        self.line.distribution_mode = "all"
        telegram = self.client_writes(951)
        session = self.visitor_opens()
        site = self.visitor_says(session, "Есть кто?")
        operators = {self.operator.partner_id, self.op2.partner_id, self.op3.partner_id}
        for dialog in (telegram, site):
            self.assertEqual(dialog.state, "queued")
            self.assertTrue(operators <= set(dialog.discuss_channel_id.channel_member_ids.partner_id), "offered to all")
        self.assertFalse(self.telegram_reads(), "offered to operators: no 'you are number N in the queue'")
        self.assertFalse(self.visitor_reads(session))
        self.operator_reply(site, "Слушаю вас", user=self.op3)
        self.assertEqual(site.operator_id, self.op3)

    def test_consent_before_anything_reaches_an_operator_side_by_side(self):
        self.line.write({"consent_required": True, "distribution_mode": "strict"})
        self.post_update(self.text_update(961, 961, "Мой телефон +7 900 000-00-00"))
        self.process()
        self.assertIn("personal data", self.telegram_reads()[-1])
        self.assertFalse(self.dialog_of("961"), "no dialog before the consent")
        session = self.visitor_opens()
        self.assertFalse(session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "agent"))
        site = self.visitor_says(session, "Мой телефон +7 900 000-00-00")
        self.assertIn("personal data", self.visitor_reads(session)[-1])
        self.assertEqual((site.state, site.site_consent), ("bot", "asked"))
        Dialog = self.env["openlines.dialog"].with_user(self.operator)
        self.assertFalse(Dialog.search([("id", "=", site.id)]), "the operator does not see it yet")
        self.assertFalse(self.env["discuss.channel"].with_user(self.operator).search([("id", "=", session.id)]))
        self.env["openlines.dialog"]._cron_route()
        self.assertFalse(site.operator_id, "routing leaves it alone until the visitor agrees")
        self.receive(self.text_update(962, 961, "да"))
        self.process()  # the held message follows the consent
        site = self.visitor_says(session, "да")
        telegram = self.dialog_of("961")
        self.assertEqual((telegram.operator_id, site.operator_id), (self.operator, self.operator))
        self.assertEqual(site.site_consent, "given")
        self.assertTrue(site.site_consent_date)
        said = site.discuss_channel_id.message_ids.filtered(lambda m: "+7 900" in (m.body or ""))
        self.assertTrue(said, "what the visitor wrote before agreeing reaches the operator")
        self.assertTrue(Dialog.search([("id", "=", site.id)]))

    def test_a_refusal_is_answered_and_reaches_nobody(self):
        self.line.consent_required = True
        session = self.visitor_opens()
        self.visitor_says(session, "Здравствуйте")
        site = self.visitor_says(session, "нет")
        self.assertIn("Without your consent", self.visitor_reads(session)[-1])
        self.assertEqual((site.state, site.site_consent, site.operator_id.id), ("bot", "declined", False))

    def test_auto_close_side_by_side(self):
        self.line.write({"auto_close_hours": 1, "close_message": "Диалог закрыт."})
        telegram = self.client_writes(971)
        session = self.visitor_opens()
        site = self.visitor_says(session, "Вопрос")
        with freeze_all_time(fields.Datetime.now() + timedelta(hours=2)):
            self.env["openlines.dialog"]._cron_route()
        self.assertEqual((telegram.state, site.state), ("closed", "closed"))
        self.assertIn("Диалог закрыт.", self.visitor_reads(session)[-1])

    def test_kpis_side_by_side(self):
        """The widget's figures follow the line's KPI rules as Telegram's: the limit in working time only,
        counted from the visitor's first message (not from opening the widget), the weekend left out."""
        calendar = self.env["resource.calendar"].create({"name": "Office", "tz": "UTC"})  # Mon-Fri 8-12, 13-17
        self.line.write(
            {"kpi_first_response_limit": 10, "kpi_working_hours_only": True, "resource_calendar_id": calendar.id}
        )
        friday = datetime(2026, 3, 6, 16, 50)
        with freeze_all_time(friday):
            session = self.visitor_opens()
        with freeze_all_time(friday + timedelta(minutes=5)):
            telegram = self.client_writes(981)
            site = self.visitor_says(session, "Вопрос")
        monday = datetime(2026, 3, 9, 8, 3)
        for dialog in (telegram, site):
            self.assertEqual(dialog.kpi_waiting_since, friday + timedelta(minutes=5))
            self.assertEqual(dialog.kpi_deadline, datetime(2026, 3, 9, 8, 5), "5 minutes on Friday, 5 on Monday")
            with freeze_all_time(monday):
                self.operator_reply(dialog, "Ответ", user=dialog.operator_id)
        self.env.invalidate_all()
        for dialog in (telegram, site):
            self.assertEqual(
                (dialog.first_response_time, dialog.kpi_response_count, dialog.is_late),
                (480.0, 1, False),
                f"{dialog.source}: 5 working minutes on Friday and 3 on Monday, in time",
            )

    # -- the chatbot ------------------------------------------------------------------------
    def make_script(self, title, *steps):
        return self.env["chatbot.script"].create(
            {"title": title, "script_step_ids": [(0, 0, {"step_type": kind, "message": text}) for kind, text in steps]}
        )

    def add_rule(self, script=None):
        """A rule of the line's live-chat channel (every page), naming ``script`` as its chatbot."""
        return self.env["im_livechat.channel.rule"].create(
            {"channel_id": self.line.livechat_channel_id.id, "chatbot_script_id": script.id if script else False}
        )

    def widget_rule_chatbot(self):
        """The chatbot the widget is told of when it loads (``/mail/data`` ``init_livechat``), if any."""
        init = self.make_jsonrpc_request(
            "/mail/data", {"fetch_params": [["init_livechat", self.line.livechat_channel_id.id]]}
        )
        rules = {rule["id"]: rule for rule in init.get("im_livechat.channel.rule", [])}
        return rules[init["Store"]["livechat_rule"]]["chatbot_script_id"]

    def visitor_opens_with_hint(self, script):
        """The visitor opens the widget as its frontend does, passing the rule's chatbot as a hint."""
        self.opener.cookies.clear()
        data = self.make_jsonrpc_request(
            "/im_livechat/get_session",
            {"channel_id": self.line.livechat_channel_id.id, "chatbot_script_id": script.id},
        )
        self.env.invalidate_all()
        return self.env["discuss.channel"].browse(data["channel_id"])

    def session_bot(self, session):
        return session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "bot").chatbot_script_id

    def test_the_line_chatbot_greets_the_visitor_and_the_telegram_client(self):
        """The line's chatbot answers the widget as it answers Telegram, whatever the channel's rule names."""
        script = self.make_script(
            "Line bot",
            ("text", "Hello, I am the line's bot."),
            ("free_input_single", "What is your question?"),
            ("forward_operator", "Connecting you with an operator."),
        )
        rule_bot = self.make_script("Rule bot", ("text", "Hello, I am the rule's bot."))
        self.line.chatbot_script_id = script
        self.add_rule(rule_bot)
        self.assertEqual(self.widget_rule_chatbot(), script.id, "the widget is told of the line's chatbot")
        telegram = self.client_writes(1001)
        self.assertEqual(telegram.state, "bot")
        self.assertEqual(self.session_bot(telegram.discuss_channel_id), script)
        self.assertEqual(self.telegram_reads(), ["Hello, I am the line's bot.", "What is your question?"])
        for session in (self.visitor_opens(), self.visitor_opens_with_hint(rule_bot)):
            self.assertEqual(self.session_bot(session), script, "the line's chatbot, not the rule's")
            self.assertEqual(session.livechat_operator_id, script.operator_partner_id)
            self.assertEqual(session.openlines_dialog_id.state, "bot")
            texts = session.message_ids.filtered(lambda m: m.author_id == script.operator_partner_id).mapped("body")
            self.assertTrue(any("the line's bot" in text for text in texts), texts)
            self.assertFalse(any("the rule's bot" in text for text in texts), texts)

    def test_a_line_without_chatbot_starts_no_rule_chatbot(self):
        """No chatbot on the line: the rule's chatbot does not talk; the visitor goes to the line's operator."""
        self.line.distribution_mode = "strict"
        self.set_order(self.operator, self.op2, self.op3)
        rule_bot = self.make_script("Rule bot", ("text", "Hello, I am the rule's bot."))
        self.add_rule(rule_bot)
        self.assertFalse(self.widget_rule_chatbot(), "the widget is told of no chatbot")
        session = self.visitor_opens_with_hint(rule_bot)
        self.assertFalse(self.session_bot(session))
        self.assertEqual(session.livechat_operator_id, self.operator.partner_id)
        self.assertEqual(session.openlines_dialog_id.operator_id, self.operator)
        self.assertFalse(session.message_ids.filtered(lambda m: m.author_id == rule_bot.operator_partner_id))
        self.assertEqual(self.client_writes(1002).operator_id, self.operator, "as a Telegram client")

    def test_the_widget_chatbot_hands_over_to_the_line_and_its_time_is_apart(self):
        """The line's chatbot on the widget: its texts are no answers, its forward step gives the visitor to the
        line's operator, the first response is counted from the hand-over."""
        self.line.write({"kpi_first_response_limit": 10, "distribution_mode": "strict"})
        self.set_order(self.op3, self.operator)
        self.line.chatbot_script_id = self.make_script(
            "Site bot",
            ("free_input_single", "What is your question?"),
            ("forward_operator", "Connecting you with an operator."),
        )
        t0 = datetime(2026, 3, 2, 10, 0)
        with freeze_all_time(t0):
            session = self.visitor_opens()
        dialog = session.openlines_dialog_id
        self.assertEqual((dialog.state, dialog.operator_id.id), ("bot", False))
        with freeze_all_time(t0 + timedelta(minutes=2)):
            self.visitor_says(session, "Доставка в Казань?")
            self.assertFalse(dialog.kpi_waiting_since, "with the bot nobody is late")
            self.make_jsonrpc_request("/chatbot/step/trigger", {"channel_id": session.id})
        self.env.invalidate_all()
        self.assertEqual(
            (dialog.state, dialog.operator_id), ("assigned", self.op3), "the line's order, not im_livechat's"
        )
        self.assertEqual(dialog.kpi_waiting_since, t0 + timedelta(minutes=2))
        self.assertEqual(dialog.bot_time, 120.0)
        with freeze_all_time(t0 + timedelta(minutes=6)):
            self.operator_reply(dialog, "Да, доставляем.", user=self.op3)
        self.env.invalidate_all()
        self.assertEqual((dialog.first_response_time, dialog.kpi_answer_count), (240.0, 1), "bot texts are no answers")
        self.assertEqual(dialog.kpi_first_answer_partner_id, self.op3.partner_id)

    # -- an archived line ---------------------------------------------------------------------
    def test_an_archived_line_takes_nothing_in(self):
        self.assertEqual(self.widget_offered(), (True, True))
        self.assertTrue(self.visitor_opens())
        self.line.action_archive()
        self.assertEqual(self.widget_offered(), (False, False), "the widget is hidden")
        sessions = self.widget_sessions()
        self.assertFalse(self.visitor_opens(), "and opens no session")
        self.assertEqual(self.widget_sessions(), sessions)
        telegram = self.client_writes(991)
        self.assertEqual((telegram.state, telegram.operator_id.id), ("queued", False))
        self.assertEqual(self.telegram_reads(), ["Sorry, we no longer answer here."], "the line's not-available text")
        self.env["openlines.dialog"]._cron_route()
        self.assertFalse(telegram.operator_id, "nobody gets dialogs of an archived line")

    def test_an_archived_line_without_its_text_answers_with_the_off_hours_text(self):
        self.line.write({"unavailable_message": "Мы переехали: пишите @new_shop_bot.", "active": False})
        self.client_writes(994)
        self.assertEqual(self.telegram_reads(), ["Мы переехали: пишите @new_shop_bot."])
        self.line.unavailable_message = False
        self.client_writes(997)
        self.assertIn("We are closed now", self.telegram_reads()[-1], "an empty text: the off-hours one")

    def test_an_archived_line_sends_to_the_line_it_names(self):
        other = self.env["openlines.line"].create({"name": "Night line", "user_ids": [(6, 0, self.op2.ids)]})
        self.offline(self.operator, self.op3)
        self.line.write({"off_hours_action": "line", "off_hours_line_id": other.id})
        answered = self.client_writes(992)
        answered.action_close()
        self.line.action_archive()
        telegram = self.client_writes(993)
        self.assertEqual((telegram.line_id, telegram.operator_id), (other, self.op2))
        back = self.client_writes(992)
        self.assertEqual(back, answered, "within the continue window: the same dialog...")
        self.assertEqual((back.line_id, back.operator_id), (other, self.op2), "...but not back to the archived line")

    # -- the upgrade -------------------------------------------------------------------------
    def test_the_upgrade_lists_operators_and_fills_the_time_with_the_bot(self):
        """``migrations/19.0.1.1.0/post-30-widget.py`` on rows as the previous version left them."""
        path = Path(__file__).parents[1] / "migrations" / "19.0.1.1.0" / "post-30-widget.py"
        spec = importlib.util.spec_from_file_location("openlines_post_30_widget", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        handed = self.client_writes(995)
        bot = self.client_writes(996)
        self.env.flush_all()
        self.env.cr.execute("DELETE FROM openlines_line_operator WHERE line_id = %s", [self.line.id])
        self.env.cr.execute(
            "UPDATE openlines_dialog SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(minutes=3), handed.id],
        )
        self.env.cr.execute(
            "UPDATE openlines_dialog SET state = 'bot', kpi_waiting_since = create_date, kpi_deadline = create_date "
            "WHERE id = %s",
            [bot.id],
        )
        self.env.invalidate_all()
        handed._post_notice("The chatbot handed the dialog over to the operators.")
        self.env.flush_all()
        migration.migrate(self.env.cr, "19.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual(self.line.operator_ids.user_id, self.operator | self.op2 | self.op3)
        self.assertAlmostEqual(handed.bot_time, 180.0, delta=5)
        self.assertEqual((bot.kpi_bot_since, bot.kpi_waiting_since, bot.kpi_deadline), (bot.create_date, False, False))
