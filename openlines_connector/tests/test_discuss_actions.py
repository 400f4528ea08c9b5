"""What operators and supervisors do in Discuss (issue 16), server side: the transfer wizard and
the client's transfer text, the KPI clock after a transfer, the queue preview (read, not write)
and its notifications, the messenger label sent with the thread, the director's join and note."""

import json
from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.mail.tests.common import freeze_all_time

from .common import OpenlinesCase

MANAGER = "base.group_user,openlines_connector.group_openlines_manager"
DIRECTOR = "base.group_user,openlines_connector.group_openlines_director"
T0 = datetime(2026, 3, 2, 10, 0, 0)


class DiscussActionsCase(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.colleague = new_test_user(cls.env, login="ol_da_colleague", name="Carl Colleague", groups=MANAGER)
        cls.outsider = new_test_user(cls.env, login="ol_da_outsider", name="Otto Outsider", groups=MANAGER)
        cls.director = new_test_user(cls.env, login="ol_da_director", name="Dina Director", groups=DIRECTOR)
        cls.other_director = new_test_user(cls.env, login="ol_da_director2", name="Dan Director", groups=DIRECTOR)
        cls.line.write({"user_ids": [(4, cls.colleague.id)], "supervisor_ids": [(6, 0, cls.director.ids)]})
        cls.other_line = cls.env["openlines.line"].create(
            {"name": "Second line", "user_ids": [(6, 0, cls.outsider.ids)]}
        )

    def bus_of(self, record, notification_type):
        """Payloads of ``notification_type`` sent to ``record``'s bus (a partner, a session) in this transaction."""
        self.env.cr.precommit.run()
        target = [self.env.cr.dbname, record._name, record.id]
        return [
            json.loads(row.message)["payload"]
            for row in self.env["bus.bus"].sudo().search([], order="id")
            if json.loads(row.channel) == target and json.loads(row.message)["type"] == notification_type
        ]

    def queued_dialog(self, chat_id, text="Нужна помощь"):
        """A client writes while nobody of the line is online: the dialog waits in the queue."""
        self.env["mail.presence"].search([("user_id", "in", self.line.user_ids.ids)]).unlink()
        dialog = self.client_writes(chat_id, text)
        self.assertEqual(dialog.state, "queued")
        self.assertFalse(dialog.operator_id)
        return dialog

    def store_thread(self, data, channel):
        threads = [t for t in data.get("discuss.channel", []) if t["id"] == channel.id]
        self.assertEqual(len(threads), 1, f"the store holds the session {channel.id}")
        return threads[0]


@tagged("post_install", "-at_install")
class TestTransfer(DiscussActionsCase):
    def transfer_form(self, dialog, user):
        wizard = Form(self.env["openlines.dialog.transfer"].with_user(user).with_context(default_dialog_id=dialog.id))
        return wizard

    def test_the_form_offers_only_whom_the_transfer_accepts(self):
        """One rule: a line operator without the Open Lines role (he cannot get dialogs) is not offered,
        and a transfer to him is refused."""
        dialog = self.client_writes(1601009, "Вопрос")
        manager_group = self.env.ref("openlines_connector.group_openlines_manager")
        plain = new_test_user(self.env, login="plain_employee_tr", groups="base.group_user")
        self.line.sudo().user_ids = [(4, plain.id)]
        self.assertIn(plain, self.line.user_ids)
        self.assertNotIn(manager_group, plain.all_group_ids)
        form = self.transfer_form(dialog, self.operator)
        self.assertIn(self.colleague, form.allowed_user_ids)
        self.assertNotIn(plain, form.allowed_user_ids)
        with self.assertRaises(UserError):
            dialog.with_user(self.operator).action_transfer(user_id=plain.id)

    def test_a_manager_transfers_from_the_wizard_and_the_client_is_told(self):
        self.line.transfer_message = "Передаём ваш вопрос: вам ответит {operator}."
        dialog = self.client_writes(1601001, "Хочу вернуть заказ")
        self.assertEqual(dialog.operator_id, self.operator)
        self.fake.calls.clear()
        form = self.transfer_form(dialog, self.operator)
        self.assertEqual(form.target, "user")
        self.assertIn(self.colleague, form.allowed_user_ids)
        self.assertNotIn(self.operator, form.allowed_user_ids, "not to himself")
        self.assertNotIn(self.outsider, form.allowed_user_ids, "only the line's operators and supervisors")
        form.user_id = self.colleague
        form.note = "Постоянный клиент, возврат без чека"
        form.save().action_transfer()

        self.assertEqual(dialog.operator_id, self.colleague)
        session = dialog.discuss_channel_id
        self.assertIn(self.colleague.partner_id, session.channel_member_ids.partner_id)
        self.assertNotIn(self.operator.partner_id, session.channel_member_ids.partner_id)
        self.assertIn("Постоянный клиент", session.message_ids[0].body, "the note is in the operators' notice")
        (left,) = [
            p for p in self.bus_of(self.operator.partner_id, "mail.record/insert") if "close_chat_window" in str(p)
        ]
        self.assertEqual(left["discuss.channel"][0]["id"], session.id, "his Discuss leaves it")
        (gone,) = [p for p in self.bus_of(session, "mail.record/insert") if "channel_member_ids" in str(p)]
        self.assertEqual(gone["discuss.channel"][0]["channel_member_ids"][0][0], "DELETE", "no longer a member")
        self.send()
        texts = [call["text"] for call in self.fake.calls_of("sendMessage")]
        self.assertEqual(
            texts, ["Передаём ваш вопрос: вам ответит Carl Colleague."], "the note never reaches the client"
        )

    def test_transfer_to_another_lines_queue_announces_it_there(self):
        dialog = self.client_writes(1601002)
        self.env["mail.presence"].search([("user_id", "=", self.outsider.id)]).unlink()
        form = self.transfer_form(dialog, self.operator)
        form.target = "line"
        self.assertIn(
            (str(self.other_line.id), "Second line"), self.env["openlines.dialog.transfer"]._selection_target_line()
        )
        form.target_line = str(self.other_line.id)
        form.save().action_transfer()
        self.assertEqual(dialog.line_id, self.other_line)
        self.assertEqual(dialog.state, "queued")
        (announce,) = self.bus_of(self.outsider.partner_id, "openlines.queue/new")
        self.assertEqual(announce["channel_id"], dialog.discuss_channel_id.id)
        self.assertEqual((announce["line"], announce["source"]), ("Second line", "Telegram"))
        self.send()
        texts = [call["text"] for call in self.fake.calls_of("sendMessage")]
        self.assertIn("Your conversation has been passed to Second line: we will answer you here.", texts)

    def test_the_wizard_refuses_what_the_transfer_refuses(self):
        dialog = self.client_writes(1601003)
        form = self.transfer_form(dialog, self.operator)
        form.target = "line"
        form.target_line = str(self.line.id)
        with self.assertRaises(UserError):
            form.save().action_transfer()
        # a colleague cannot transfer a dialog that is not his
        wizard = (
            self.env["openlines.dialog.transfer"]
            .with_user(self.colleague)
            .create({"dialog_id": dialog.id, "user_id": self.colleague.id})
        )
        with mute_logger("odoo.models", "odoo.addons.base.models.ir_rule"), self.assertRaises(AccessError):
            wizard.action_transfer()
        self.assertEqual(dialog.operator_id, self.operator)

    def test_after_a_transfer_the_new_operators_first_answer_counts(self):
        self.line.kpi_working_hours_only = False
        with freeze_all_time(T0):
            dialog = self.client_writes(1601004, "Где мой заказ?")
        self.assertEqual(dialog.kpi_waiting_since, T0)
        with freeze_all_time(T0 + timedelta(minutes=10)):
            dialog.with_user(self.operator).action_transfer(user_id=self.colleague.id)
        with freeze_all_time(T0 + timedelta(minutes=12)):
            self.operator_reply(dialog, "Заказ в пути.", user=self.colleague)
        self.assertEqual(dialog.first_response_time, 120.0, "measured from the transfer, not from the question")
        self.assertEqual(dialog.kpi_first_answer_partner_id, self.colleague.partner_id)


@tagged("post_install", "-at_install")
class TestQueueInDiscuss(DiscussActionsCase):
    def test_a_new_queued_dialog_is_announced_to_the_lines_operators(self):
        dialog = self.queued_dialog(1602001)
        for user in (self.operator, self.colleague):
            (announce,) = self.bus_of(user.partner_id, "openlines.queue/new")
            self.assertEqual(announce["channel_id"], dialog.discuss_channel_id.id)
            self.assertEqual(announce["line"], "Test line")
        self.assertFalse(self.bus_of(self.outsider.partner_id, "openlines.queue/new"), "not another line's operators")

    def test_an_operator_previews_the_queue_and_takes_before_answering(self):
        dialog = self.queued_dialog(1602002, "Сколько стоит доставка?")
        session = dialog.discuss_channel_id
        self.authenticate("ol_da_colleague", "ol_da_colleague")
        data = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["/openlines/queue"]})
        thread = self.store_thread(data, session)
        self.assertEqual(thread["openlines_info"]["state"], "queued")
        messages = self.make_jsonrpc_request(
            "/discuss/channel/messages", {"channel_id": session.id, "fetch_params": {"limit": 30}}
        )
        bodies = [m["body"] for m in messages["data"]["mail.message"]]
        self.assertTrue(
            any("Сколько стоит доставка?" in str(b) for b in bodies), "the preview shows the client's words"
        )

        post = {
            "thread_model": "discuss.channel",
            "thread_id": session.id,
            "post_data": {"body": "Ответ до Take", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
        }
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request("/mail/message/post", post)
        self.assertFalse(session.message_ids.filtered(lambda m: "Ответ до Take" in (m.body or "")))

        # Discuss's own "Join" of a session looking for help takes the dialog
        self.make_jsonrpc_request(
            "/web/dataset/call_kw/discuss.channel/livechat_join_channel_needing_help",
            {
                "model": "discuss.channel",
                "method": "livechat_join_channel_needing_help",
                "args": [[session.id]],
                "kwargs": {},
            },
        )
        dialog.invalidate_recordset()
        self.assertEqual((dialog.operator_id, dialog.state), (self.colleague, "assigned"))
        self.make_jsonrpc_request("/mail/message/post", post)
        self.assertTrue(session.message_ids.filtered(lambda m: "Ответ до Take" in (m.body or "")))
        (left,) = [p for p in self.bus_of(self.operator.partner_id, "mail.record/insert") if "discuss.channel" in p][
            -1:
        ]
        self.assertEqual(
            left["discuss.channel"][0]["openlines_info"]["state"], "assigned", "it leaves the others' queue"
        )

    def test_the_queue_is_the_users_lines_only(self):
        dialog = self.queued_dialog(1602003)
        session = dialog.discuss_channel_id
        self.assertTrue(session.with_user(self.colleague).has_access("read"))
        self.assertFalse(session.with_user(self.colleague).has_access("write"))
        self.assertFalse(session.with_user(self.outsider).has_access("read"))
        self.authenticate("ol_da_outsider", "ol_da_outsider")
        data = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["/openlines/queue"]})
        self.assertFalse([t for t in data.get("discuss.channel", []) if t["id"] == session.id])
        dialog.with_user(self.operator).action_take()
        self.assertFalse(session.with_user(self.colleague).has_access("read"), "taken: no longer in his queue")

    def test_users_without_an_open_lines_role_load_discuss_without_error(self):
        """A Live Chat agent or a plain employee has no queue: Discuss loads for them (it raised AccessError)."""
        self.queued_dialog(1602004)
        for login, groups in (
            ("ol_da_agent", "base.group_user,im_livechat.im_livechat_group_user"),
            ("ol_da_employee", "base.group_user"),
        ):
            new_test_user(self.env, login=login, groups=groups)
            self.authenticate(login, login)
            data = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["/openlines/queue"]})
            self.assertFalse([t for t in data.get("discuss.channel", []) if t.get("openlines_info")], login)


@tagged("post_install", "-at_install")
class TestWhatTheOperatorSees(DiscussActionsCase):
    def test_the_thread_says_which_messenger_and_line(self):
        dialog = self.client_writes(1603001)
        self.authenticate("ol_operator", "ol_operator")
        data = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["channels_as_member"]})
        info = self.store_thread(data, dialog.discuss_channel_id)["openlines_info"]
        self.assertEqual(
            {k: info[k] for k in ("dialog_id", "source", "source_label", "line", "state", "close_confirmation")},
            {
                "dialog_id": dialog.id,
                "source": "telegram",
                "source_label": "Telegram",
                "line": "Test line",
                "state": "assigned",
                "close_confirmation": True,
            },
        )

    def test_closing_tells_the_members_live(self):
        dialog = self.client_writes(1603002)
        dialog.with_user(self.operator).action_close()
        inserts = [p for p in self.bus_of(dialog.discuss_channel_id, "mail.record/insert") if "discuss.channel" in p]
        thread = inserts[-1]["discuss.channel"][0]
        self.assertEqual(thread["openlines_info"]["state"], "closed")
        self.assertTrue(thread["livechat_end_dt"])


@tagged("post_install", "-at_install")
class TestSupervisor(DiscussActionsCase):
    def test_a_director_joins_any_dialog_of_his_lines(self):
        dialog = self.client_writes(1604001)
        self.assertEqual(dialog.state, "assigned", "not waiting for help")
        with mute_logger("odoo.models", "odoo.addons.base.models.ir_rule"):
            with self.assertRaises(AccessError):
                dialog.with_user(self.other_director).action_join()  # supervises no line of it
            with self.assertRaises(AccessError):
                dialog.with_user(self.colleague).action_join()  # an operator is no supervisor
        dialog.with_user(self.director).action_join()
        self.assertIn(self.director.partner_id, dialog.discuss_channel_id.channel_member_ids.partner_id)
        self.assertEqual(dialog.operator_id, self.operator, "joining is not taking")

    def test_a_directors_note_never_reaches_the_client(self):
        dialog = self.client_writes(1604002)
        session = dialog.discuss_channel_id
        self.fake.calls.clear()
        self.authenticate("ol_da_director", "ol_da_director")
        note = {
            "thread_model": "discuss.channel",
            "thread_id": session.id,
            "post_data": {"body": "Предложи скидку 10%", "message_type": "comment", "subtype_xmlid": "mail.mt_note"},
        }
        self.make_jsonrpc_request("/mail/message/post", note)
        message = session.message_ids.filtered(lambda m: "скидку" in (m.body or ""))
        self.assertEqual(message.subtype_id, self.env.ref("mail.mt_note"))
        self.send()
        self.assertFalse(self.fake.calls_of("sendMessage"), "the note is not sent to Telegram")
        self.assertFalse(self.env["openlines.message"].search([("mail_message_id", "=", message.id)]))
        self.assertFalse(
            [
                p
                for p in self.bus_of(session, "discuss.channel/new_message")
                if "скидку" in json.dumps(p, ensure_ascii=False)
            ],
            "nobody listening to the session (a site visitor) gets it",
        )
        self.assertTrue(self.bus_of(self.operator.partner_id, "discuss.channel/new_message"), "the operator gets it")
        self.assertEqual(dialog.state, "assigned", "a note is no answer")

        self.operator_reply(dialog, "Можем предложить скидку 10%.")
        self.send()
        self.assertEqual([c["text"] for c in self.fake.calls_of("sendMessage")], ["Можем предложить скидку 10%."])
