"""Channel health: queue figures per channel in one query, the failing state and its one alert."""

from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import SQL, mute_logger

from .common import OpenlinesCase, rows_as_listed

NOW = datetime(2026, 3, 2, 12, 0, 0)


@tagged("post_install", "-at_install")
class TestChannelHealth(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env,
            login="ol_health_admin",
            name="Alla Admin",
            groups="base.group_user,openlines_connector.group_openlines_admin",
        )
        cls.director = new_test_user(
            cls.env,
            login="ol_health_director",
            name="Dina Director",
            groups="base.group_user,openlines_connector.group_openlines_director",
        )

    # -- helpers ---------------------------------------------------------------
    def make_rows(self, channel, states, minutes_old=0):
        """One row per state of ``states``, created ``minutes_old`` minutes before NOW."""
        rows = self.env["openlines.message"].create(
            [
                {"channel_id": channel.id, "direction": "in", "external_id": f"h{minutes_old}-{i}", "state": s}
                for i, s in enumerate(states)
            ]
        )
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE openlines_message SET create_date = %s WHERE id IN %s",
                NOW - timedelta(minutes=minutes_old),
                tuple(rows.ids),
            )
        )
        self.env.invalidate_all()
        return rows

    def alerts(self):
        """OdooBot's failing notes on the test channel."""
        return self.env["mail.message"].search(
            [
                ("model", "=", "openlines.channel"),
                ("res_id", "=", self.channel.id),
                ("author_id", "=", self.env.ref("base.partner_root").id),
                ("partner_ids", "in", self.admin.partner_id.id),
            ]
        )

    def reply_and_send(self, dialog, text):
        self.operator_reply(dialog, text)
        self.send()
        return self.rows("out")[-1]

    # -- figures ---------------------------------------------------------------
    @freeze_time(NOW)
    def test_counts_and_oldest_age_per_channel_in_one_query(self):
        other, idle = self.env["openlines.channel"].create(
            [{"name": n, "line_id": self.line.id, "channel_type": "telegram"} for n in ("Other bot", "Idle bot")]
        )
        self.make_rows(self.channel, ["pending", "retry", "done", "failed", "failed", "held", "ignored"], 25)
        self.make_rows(self.channel, ["pending"], 3)
        self.make_rows(other, ["retry", "failed", "done"], 4)
        self.make_rows(idle, ["done", "ignored"], 600)
        channels = self.channel | other | idle
        channels.mapped("name")  # the channels themselves are read: only the figures are counted
        with self.assertQueryCount(1):
            figures = [
                (c.pending_count, c.held_count, c.failed_count, c.oldest_pending_minutes, c.oldest_pending_age)
                for c in channels
            ]
        self.assertEqual(
            figures,
            [(3, 1, 2, 25, "25 min"), (1, 0, 1, 4, "4 min"), (0, 0, 0, 0, False)],
        )
        self.env.invalidate_all()
        with self.assertQueryCount(1):  # one channel: the same single query
            self.assertEqual(idle.pending_count, 0)

        Channel = self.env["openlines.channel"]
        late = Channel.search([("oldest_pending_minutes", ">", 10), ("id", "in", channels.ids)])
        self.assertEqual(late, self.channel)
        self.assertEqual(Channel.search([("failed_count", "=", 0), ("id", "in", channels.ids)]), idle)
        self.assertEqual(Channel.search([("pending_count", ">=", 1), ("id", "in", channels.ids)]), self.channel | other)

    def test_health_list_and_form_show_the_figures(self):
        """A director opens Channel health: the late channel's row shows its figures and is red."""
        idle = self.env["openlines.channel"].create(
            {"name": "Idle bot", "line_id": self.line.id, "channel_type": "telegram", "token": "1:idle"}
        )
        self.make_rows(self.channel, ["pending", "failed"], 25)
        with freeze_time(NOW):
            rows = rows_as_listed(
                self.env(user=self.director),
                "openlines_connector.openlines_channel_health_action",
                [("id", "in", (self.channel | idle).ids)],
            )
            listed = {values["name"]: (values, decorations) for values, decorations in rows}
            late, late_marks = listed["Test bot"]
            self.assertEqual((late["pending_count"], late["failed_count"]), (1, 1))
            self.assertEqual(late["line_id"], "Test line")
            self.assertTrue(late["oldest_pending_age"], "the age of the oldest waiting message is shown")
            self.assertIn("danger", late_marks, "a channel with a message waiting 25 minutes is red")
            quiet, quiet_marks = listed["Idle bot"]
            self.assertEqual((quiet["pending_count"], quiet["failed_count"]), (0, 0))
            self.assertFalse(quiet_marks, "an idle channel is not marked")

            form = Form(self.channel.with_user(self.director))
            self.assertEqual(form.pending_count, 1)
            self.assertFalse(
                form._get_modifier("oldest_pending_age", "invisible"), "the age shows while a message waits"
            )
            self.assertEqual(form.oldest_pending_age, late["oldest_pending_age"])
            self.assertTrue(Form(idle.with_user(self.director))._get_modifier("oldest_pending_age", "invisible"))

    # -- failing and alert -------------------------------------------------------
    @mute_logger("odoo.addons.openlines_connector.models.openlines_channel_health")
    def test_revoked_token_fails_the_channel_and_alerts_admins_once_per_streak(self):
        dialog = self.client_writes(7701, "Здравствуйте")
        self.assertTrue(self.channel.last_success_date, "processing an incoming message is a success")

        self.fake.queue_error("sendMessage", 401, "Unauthorized")
        row = self.reply_and_send(dialog, "Первый ответ")
        self.assertEqual(row.state, "failed")
        self.assertEqual(self.channel.state, "failing")
        self.assertIn("Unauthorized", self.channel.last_error)
        self.assertTrue(self.channel.last_error_date)
        alert = self.alerts()
        self.assertEqual(len(alert), 1)
        self.assertIn("Test bot", alert.body)
        self.assertIn(self.admin.partner_id, alert.notification_ids.res_partner_id)
        self.assertIn(self.env.ref("base.user_admin").partner_id, alert.partner_ids)
        self.assertNotIn(self.operator.partner_id, alert.partner_ids, "operators are not alerted")

        self.fake.queue_error("sendMessage", 401, "Unauthorized")
        self.assertEqual(self.reply_and_send(dialog, "Второй ответ").state, "failed")
        self.assertEqual((self.channel.state, self.channel.error_streak), ("failing", 2))
        self.assertEqual(len(self.alerts()), 1, "the same streak alerts once")

        self.assertEqual(self.reply_and_send(dialog, "Третий ответ").state, "done")
        self.assertEqual((self.channel.state, self.channel.error_streak), ("connected", 0))
        self.assertIn("Unauthorized", self.channel.last_error, "the last error stays visible as history")

        self.fake.queue_error("sendMessage", 404, "Not Found")  # the bot was deleted: a new streak
        self.reply_and_send(dialog, "Четвёртый ответ")
        self.assertEqual(self.channel.state, "failing")
        self.assertEqual(len(self.alerts()), 2)

    def test_a_clients_error_does_not_fail_the_channel(self):
        dialog = self.client_writes(7702)
        self.fake.queue_error("sendMessage", 403, "Forbidden: bot was blocked by the user")
        self.assertEqual(self.reply_and_send(dialog, "Ответ").state, "failed")
        self.fake.queue_error("sendMessage", 400, "Bad Request: message is too long")
        self.assertEqual(self.reply_and_send(dialog, "Ответ").state, "failed")
        self.assertNotEqual(self.channel.state, "failing")
        self.assertEqual(self.channel.error_streak, 0)
        self.assertFalse(self.alerts())

    @mute_logger(
        "odoo.addons.openlines_connector.models.openlines_channel",
        "odoo.addons.openlines_connector.models.openlines_channel_health",
    )
    def test_polling_failing_repeatedly_alerts_after_five_minutes(self):
        self.channel.write({"receive_mode": "polling", "state": "connected"})
        poll = "openlines_connector.ir_cron_openlines_poll"
        for minute in (0, 2, 4):
            with freeze_time(NOW + timedelta(minutes=minute)):
                self.fake.queue_error("getUpdates", 502, "Bad Gateway")
                self.run_cron(poll)
        self.assertEqual((self.channel.state, self.channel.error_streak), ("connected", 3), "not 5 minutes yet")
        self.assertFalse(self.alerts())
        with freeze_time(NOW + timedelta(minutes=6)):
            self.fake.queue_error("getUpdates", 502, "Bad Gateway")
            self.run_cron(poll)
        self.assertEqual(self.channel.state, "failing", "still polled while failing")
        self.assertEqual(len(self.alerts()), 1)
        with freeze_time(NOW + timedelta(minutes=7)):
            self.run_cron(poll)
        self.assertEqual((self.channel.state, self.channel.error_streak), ("connected", 0))
        self.assertEqual(self.channel.last_success_date, NOW + timedelta(minutes=7))

    @mute_logger(
        "odoo.addons.openlines_connector.models.openlines_message",
        "odoo.addons.openlines_connector.models.openlines_channel_health",
    )
    def test_processing_failing_repeatedly_fails_the_channel_until_a_send_works(self):
        self.fake.queue_error("getFile", 500, "Internal Server Error", times=8)
        with freeze_time(NOW):
            self.assertEqual(self.post_update(self.fixture("photo")).status_code, 200)
        row = self.rows()
        for minute in (0, 2, 4, 6):  # the photo cannot be downloaded: the row is retried, and fails again
            with freeze_time(NOW + timedelta(minutes=minute)):
                self.process()
            self.assertEqual(row.state, "retry")
        self.assertEqual((self.channel.state, self.channel.error_streak), ("failing", 4))
        self.assertEqual(self.channel.last_error, row.last_error)
        self.assertEqual(len(self.alerts()), 1)
        dialog = self.client_writes(7703, "Алло?")  # processing works again: no proof the account does
        self.assertEqual(self.channel.state, "failing")
        self.reply_and_send(dialog, "Слушаю")
        self.assertEqual((self.channel.state, self.channel.error_streak), ("connected", 0))

    def test_success_is_written_at_most_once_a_minute(self):
        with freeze_time(NOW):
            self.channel._health_success()
        self.assertEqual(self.channel.last_success_date, NOW)
        with freeze_time(NOW + timedelta(seconds=30)), self.assertQueryCount(0):
            self.channel._health_success()
        self.assertEqual(self.channel.last_success_date, NOW)
        with freeze_time(NOW + timedelta(seconds=61)):
            self.channel._health_success()
        self.assertEqual(self.channel.last_success_date, NOW + timedelta(seconds=61))

    # -- access ----------------------------------------------------------------
    def test_access_managers_see_no_channel_health_directors_read_it(self):
        manager_channel = self.channel.with_user(self.operator)
        with self.assertRaises(AccessError):
            manager_channel.read(["pending_count"])
        menu = self.env.ref("openlines_connector.menu_openlines_channel_health")
        self.assertNotIn(menu.id, self.env["ir.ui.menu"].with_user(self.operator)._visible_menu_ids())
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(self.director)._visible_menu_ids())
        self.make_rows(self.channel, ["failed"], 0)
        self.assertEqual(self.channel.with_user(self.director).failed_count, 1)
        with self.assertRaises(AccessError):
            self.channel.with_user(self.director).write({"last_error": False})
