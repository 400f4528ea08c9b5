from datetime import datetime, timedelta

from odoo.tests import new_test_user, tagged

from odoo.addons.base.tests.test_ir_cron import CronMixinCase
from odoo.addons.mail.tests.common import freeze_all_time

from .common import OpenlinesCase

#: a Monday, 10:00 UTC
T0 = datetime(2026, 3, 2, 10, 0, 0)
KPI_CRON = "openlines_connector.ir_cron_openlines_kpi"


@tagged("post_install", "-at_install")
class TestKpi(OpenlinesCase, CronMixinCase):
    """Response-time figures, limits, late alerts and the analysis report, on frozen time."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.operator_b = new_test_user(
            cls.env,
            login="ol_operator_b",
            name="Boris Operator",
            groups="base.group_user,openlines_connector.group_openlines_manager",
        )
        cls.head = new_test_user(
            cls.env,
            login="ol_head",
            name="Helen Head",
            groups="base.group_user,openlines_connector.group_openlines_director",
        )
        cls.line.write(
            {
                "kpi_first_response_limit": 10,
                "kpi_next_response_limit": 5,
                "kpi_notify_user_ids": [(6, 0, cls.head.ids)],
            }
        )
        cls.update_id = 50000

    def setUp(self):
        super().setUp()
        # the safety-net run is far away: only triggers wake the cron in these tests
        self.env.ref(KPI_CRON).nextcall = T0 + timedelta(days=30)

    # -- helpers -------------------------------------------------------------
    def at(self, minutes):
        return freeze_all_time(T0 + timedelta(minutes=minutes))

    def client_says(self, minutes, text="Есть ли доставка?", chat_id=1111111):
        TestKpi.update_id += 1
        update = self.fixture("text", self.update_id)
        update["message"].update(message_id=self.update_id, text=text)
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = chat_id
        with self.at(minutes):
            self.receive(update)
        return self.dialog_of(str(chat_id))

    def answer(self, minutes, dialog, user=None):
        with self.at(minutes):
            self.operator_reply(dialog, "Да, доставляем.", user=user)
        self.env.invalidate_all()

    def run_kpi_cron(self, minutes):
        with self.at(minutes):
            self.run_cron(KPI_CRON)

    def alerts_to(self, user):
        """OdooBot's messages in its chat with ``user``."""
        odoobot = self.env.ref("base.partner_root")
        chats = self.env["discuss.channel"].search(
            [("channel_type", "=", "chat"), ("channel_member_ids.partner_id", "=", user.partner_id.id)]
        )
        chats = chats.filtered(lambda c: set(c.channel_member_ids.partner_id.ids) == {user.partner_id.id, odoobot.id})
        return chats.message_ids.filtered(lambda m: m.author_id == odoobot)

    def figures(self, dialog):
        return {
            "first": dialog.first_response_time,
            "avg": dialog.avg_response_time,
            "total": dialog.total_response_time,
            "max": dialog.max_response_time,
            "responses": dialog.kpi_response_count,
            "client": dialog.kpi_client_message_count,
            "answers": dialog.kpi_answer_count,
            "late": dialog.is_late,
        }

    # -- figures -------------------------------------------------------------
    def test_figures_of_a_scripted_conversation(self):
        """Messages in a row are one wait; answers by two operators; extra answers wait for nothing."""
        dialog = self.client_says(0, "Здравствуйте!")
        self.assertEqual((dialog.kpi_waiting_since, dialog.kpi_deadline), (T0, T0 + timedelta(minutes=10)))
        self.client_says(2, "Есть доставка в Казань?")
        self.assertEqual(dialog.kpi_waiting_since, T0, "the wait runs from the first unanswered message")
        self.answer(4, dialog)  # 4 min
        self.assertFalse(dialog.kpi_waiting_since)
        self.assertFalse(dialog.kpi_deadline)
        self.answer(5, dialog)  # nobody waits: counted as an answer, not a response
        self.client_says(10, "А оплата картой?")
        self.assertEqual(dialog.kpi_deadline, T0 + timedelta(minutes=15), "further answers: the 5-minute limit")
        dialog.discuss_channel_id.sudo()._add_members(users=self.operator_b)
        self.answer(13, dialog, user=self.operator_b)  # 3 min
        self.assertEqual(
            self.figures(dialog),
            {
                "first": 240.0,
                "avg": 210.0,
                "total": 420.0,
                "max": 240.0,
                "responses": 2,
                "client": 3,
                "answers": 3,
                "late": False,
            },
        )
        self.assertEqual(dialog.kpi_first_answer_partner_id, self.operator.partner_id)
        self.assertEqual(dialog.kpi_answer_partner_ids, self.operator.partner_id | self.operator_b.partner_id)
        self.assertFalse(self.alerts_to(self.head))

    def test_the_line_chatbot_answers_through_its_script(self):
        """The line's chatbot greets through its script (the real path): its steps are not an operator's answer;
        the operator who takes over after the bot answers, and a plain operator may post in a bot's session.
        The clock of the first response starts when the bot hands over (minute 2), not at the client's first
        message: the time with the bot is its own figure."""
        script = self.env["chatbot.script"].create(
            {
                "title": "KPI bot",
                "script_step_ids": [
                    (0, 0, {"step_type": "free_input_single", "message": "Hello! What is your question?"}),
                    (0, 0, {"step_type": "forward_operator", "message": "Connecting you with an operator."}),
                ],
            }
        )
        self.line.chatbot_script_id = script
        dialog = self.client_says(0, "Здравствуйте!")
        self.assertEqual(dialog.state, "bot")
        bot = script.operator_partner_id
        bot_says = dialog.discuss_channel_id.message_ids.filtered(lambda m: m.author_id == bot)
        self.assertIn("What is your question?", bot_says[:1].body or "", "the script's first step was posted")
        self.assertFalse(dialog.kpi_first_answer_partner_id, "a script step is not an answer")
        self.assertFalse(dialog.kpi_waiting_since, "with the bot, the client waits for no operator yet")
        self.assertFalse(dialog.kpi_deadline, "no limit runs while the bot talks")
        self.client_says(2, "Есть доставка в Казань?")  # the free input: the script forwards to an operator
        self.assertEqual((dialog.state, dialog.operator_id), ("assigned", self.operator))
        self.assertEqual(dialog.kpi_waiting_since, T0 + timedelta(minutes=2), "the clock starts at the hand-over")
        self.assertEqual(dialog.kpi_deadline, T0 + timedelta(minutes=12), "the first-answer limit from the hand-over")
        self.assertEqual(dialog.bot_time, 120.0)
        self.answer(6, dialog)  # an Open Lines operator (not a Live Chat user) answers in the bot's session
        self.assertEqual(dialog.kpi_first_answer_partner_id, self.operator.partner_id)
        self.assertEqual((dialog.first_response_time, dialog.kpi_client_message_count), (240.0, 2))
        report = self.env["openlines.report.dialog"].search([("dialog_id", "=", dialog.id)])
        self.assertEqual((report.first_response, report.bot_time), (4.0, 2.0), "minutes, apart")

    def test_site_chat_visitor_messages_are_measured(self):
        with self.at(0):
            data = self.make_jsonrpc_request(
                "/im_livechat/get_session", {"channel_id": self.line.livechat_channel_id.id}
            )
        session = self.env["discuss.channel"].browse(data["channel_id"])
        dialog = session.openlines_dialog_id
        with self.at(1):
            self.make_jsonrpc_request(
                "/mail/message/post",
                {
                    "thread_model": "discuss.channel",
                    "thread_id": session.id,
                    "post_data": {"body": "Hello?", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
                },
            )
        self.env.invalidate_all()
        self.assertEqual((dialog.kpi_client_message_count, dialog.kpi_waiting_since), (1, T0 + timedelta(minutes=1)))
        self.answer(3, dialog)
        self.assertEqual(dialog.first_response_time, 120.0)

    def test_working_hours_leave_out_the_night(self):
        """With the line's working-hours calendar, Friday 16:55 → Monday 08:05 is a 10-minute wait, in time."""
        calendar = self.env["resource.calendar"].create({"name": "Office", "tz": "UTC"})  # Mon-Fri 8-12, 13-17
        self.line.resource_calendar_id = calendar
        friday = (datetime(2026, 3, 6, 16, 55) - T0).total_seconds() / 60  # minutes from T0
        monday = (datetime(2026, 3, 9, 8, 5) - T0).total_seconds() / 60
        counted_in_calendar_time = self.client_says(friday, chat_id=2222222)
        self.assertEqual(
            counted_in_calendar_time.kpi_deadline,
            datetime(2026, 3, 6, 17, 5),
            "the calendar counts only when the line says 'working hours only'",
        )
        self.line.kpi_working_hours_only = True
        dialog = self.client_says(friday)
        self.assertEqual(dialog.kpi_deadline, datetime(2026, 3, 9, 8, 5), "5 min on Friday, 5 on Monday")
        self.answer(monday, dialog)
        self.assertEqual(dialog.first_response_time, 600.0)
        self.assertFalse(dialog.is_late)

    def test_averages_leave_out_unanswered_dialogs(self):
        answered = self.client_says(0)
        self.answer(6, answered)
        self.client_says(1, chat_id=2222222)  # nobody answered yet
        Dialog = self.env["openlines.dialog"]
        domain = [("channel_id", "=", self.channel.id)]
        [(avg_first, max_first)] = Dialog._read_group(domain, [], ["first_response_time:avg", "max_response_time:max"])
        self.assertEqual((avg_first, max_first), (360.0, 360.0))

    # -- limits and alerts -----------------------------------------------------
    def test_first_limit_breached_tells_each_person_once(self):
        self.line.write({"kpi_notify_mode": "both", "kpi_notify_operator": True})
        dialog = self.client_says(0)
        self.run_kpi_cron(9)
        self.assertFalse(dialog.is_late, "not due yet")
        self.run_kpi_cron(11)
        self.assertTrue(dialog.is_late)
        self.assertEqual(dialog.kpi_late_count, 1)
        self.assertFalse(dialog.kpi_deadline, "a breach is handled once")
        for user in (self.head, self.operator):
            alerts = self.alerts_to(user)
            self.assertEqual(len(alerts), 1, user.name)
            self.assertIn("Test Test Lastname has been waiting 11 min", alerts.body)
            self.assertIn("Test line (Test bot), operator: Olga Operator; the limit is 10 min", alerts.body)
            self.assertIn(f"/odoo/openlines.dialog/{dialog.id}", alerts.body)
        self.assertEqual(dialog.activity_ids.user_id, self.head | self.operator)
        notice = dialog.discuss_channel_id.message_ids.filtered(lambda m: m.message_type == "notification")
        self.assertIn("No answer for 11 min: the limit of 10 min is missed.", notice[0].body)
        self.run_kpi_cron(12)
        self.client_says(13, "Алло?")
        self.assertEqual(len(self.alerts_to(self.head)), 1, "told once per breach")
        self.answer(15, dialog)
        self.assertEqual((dialog.first_response_time, dialog.kpi_late_count), (900.0, 1))
        self.assertTrue(dialog.is_late, "late stays: the dialog missed a limit")

    def test_further_limit_breached_and_not_breached(self):
        dialog = self.client_says(0)
        self.answer(3, dialog)  # in time
        self.client_says(10)
        self.answer(14, dialog)  # 4 min < 5: in time
        self.assertFalse(dialog.is_late)
        self.client_says(20)
        self.run_kpi_cron(26)
        self.assertTrue(dialog.is_late)
        self.assertIn("the limit is 5 min", self.alerts_to(self.head).body)
        self.assertEqual(len(self.alerts_to(self.operator)), 0, "the operator is told only when the line says so")

    def test_answer_after_the_limit_before_the_cron_is_late_without_alert(self):
        dialog = self.client_says(0)
        self.answer(12, dialog)
        self.assertTrue(dialog.is_late)
        self.assertEqual(dialog.kpi_late_count, 1)
        self.run_kpi_cron(13)
        self.assertFalse(self.alerts_to(self.head), "an answered wait is not reported")

    def test_no_limit_no_deadline(self):
        self.line.write({"kpi_first_response_limit": 0})
        dialog = self.client_says(0)
        self.assertFalse(dialog.kpi_deadline)
        self.answer(60, dialog)
        self.assertEqual((dialog.first_response_time, dialog.is_late), (3600.0, False))

    def test_a_new_limit_moves_the_running_deadlines(self):
        waiting = self.client_says(0)  # due at 10
        missed = self.client_says(0, chat_id=2222222)
        self.run_kpi_cron(11)  # both late; their deadlines are gone
        missed_alerts = len(self.alerts_to(self.head))
        fresh = self.client_says(12, chat_id=3333333)  # due at 22
        self.answer(13, waiting)
        waiting_again = self.client_says(14)  # a further answer is due at 19
        self.assertEqual(waiting_again, waiting)
        with self.at(15):
            self.line.write({"kpi_first_response_limit": 30, "kpi_next_response_limit": 2})
        self.assertEqual(fresh.kpi_deadline, T0 + timedelta(minutes=42), "from when the client wrote")
        self.assertEqual(waiting.kpi_deadline, T0 + timedelta(minutes=16))
        self.assertFalse(missed.kpi_deadline, "a missed limit stays missed: no second alert")
        self.run_kpi_cron(17)
        self.assertEqual(len(self.alerts_to(self.head)), missed_alerts + 1, "only the dialog now late")
        with self.at(18):
            self.line.write({"kpi_first_response_limit": 0})
        self.assertFalse(fresh.kpi_deadline, "no limit, no deadline")

    def test_a_line_without_limit_gets_deadlines_when_one_is_set(self):
        self.line.write({"kpi_first_response_limit": 0})
        dialog = self.client_says(0)
        self.assertFalse(dialog.kpi_deadline)
        with self.at(3):
            self.line.write({"kpi_first_response_limit": 5})
        self.assertEqual(dialog.kpi_deadline, T0 + timedelta(minutes=5))

    def test_closing_a_waiting_dialog_drops_its_deadline(self):
        dialog = self.client_says(0)
        with self.at(1):
            dialog.action_close()
        self.assertFalse(dialog.kpi_deadline)
        self.run_kpi_cron(30)
        self.assertFalse(dialog.is_late)

    def test_placeholders_and_unknown_braces(self):
        self.line.kpi_notify_text = "{client}|{line}|{channel}|{operator}|{waited}|{limit}|{unknown}"
        dialog = self.client_says(0)
        dialog.operator_id = False
        self.run_kpi_cron(125)
        self.assertIn(
            "Test Test Lastname|Test line|Test bot|nobody (in the queue)|2 h 05 min|10 min|{unknown}",
            self.alerts_to(self.head).body,
        )

    def test_alert_in_the_readers_language(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.head.lang = "ru_RU"
        self.client_says(0)
        self.run_kpi_cron(11)
        self.assertIn("Test Test Lastname ждет ответа уже 11 мин на линии Test line", self.alerts_to(self.head).body)

    # -- the cron's schedule -------------------------------------------------
    def test_cron_wakes_at_the_earliest_deadline(self):
        with self.capture_triggers(KPI_CRON) as capture:
            self.client_says(0)  # due at 10
        self.assertEqual(capture.records.mapped("call_at"), [T0 + timedelta(minutes=10)])
        with self.capture_triggers(KPI_CRON) as capture:
            self.client_says(2, chat_id=2222222)  # due at 12: the run at 10 comes first
        self.assertFalse(capture.records, "no trigger when a run is planned before the deadline")
        with self.capture_triggers(KPI_CRON) as capture:
            self.run_kpi_cron(10)
        self.assertEqual(capture.records.mapped("call_at"), [T0 + timedelta(minutes=12)], "sleeps until the next")
        self.assertTrue(self.dialog_of().is_late)
        self.assertFalse(self.dialog_of("2222222").is_late)

    # -- report ----------------------------------------------------------------
    def test_analysis_report_by_operator_and_month(self):
        late = self.client_says(0)
        self.run_kpi_cron(11)
        self.answer(20, late)  # 20 min, late
        quick = self.client_says(1, chat_id=2222222)
        self.answer(3, quick)  # 2 min
        third = self.client_says(2, chat_id=3333333)
        self.answer(8, third)  # 6 min
        self.client_says(4, chat_id=4444444)  # nobody answered yet
        Report = self.env["openlines.report.dialog"].with_user(self.head)
        groups = Report._read_group(
            [("channel_id", "=", self.channel.id)],
            ["operator_id", "start_date:month"],
            [
                "nbr_dialogs:sum",
                "nbr_late:sum",
                "in_time_rate:avg",
                "first_response:avg",
                "first_response_median:median",
            ],
        )
        self.assertEqual(len(groups), 1)
        operator, _month, dialogs, late_count, in_time, avg_first, median_first = groups[0]
        self.assertEqual((operator, dialogs, late_count), (self.operator, 4, 1))
        self.assertAlmostEqual(in_time, 75.0)
        self.assertAlmostEqual(avg_first, 28 / 3)
        self.assertAlmostEqual(median_first, 6.0)

    def test_analysis_is_for_directors(self):
        self.assertTrue(self.env["openlines.report.dialog"].with_user(self.head).has_access("read"))
        self.assertFalse(self.env["openlines.report.dialog"].with_user(self.operator).has_access("read"))
        menu = self.env.ref("openlines_connector.menu_openlines_analysis")
        self.assertIn(self.env.ref("openlines_connector.group_openlines_director"), menu.group_ids)
