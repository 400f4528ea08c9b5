from odoo.tests import tagged

from .test_routing import RoutingCase


@tagged("post_install", "-at_install")
class TestBatchOpen(RoutingCase):
    """A processing batch opens its new clients' dialogs together (``openlines.message._open_new_dialogs``):
    the same dialogs as one by one, and never one without its client's message."""

    def ingest(self, *chats):
        """First messages of ``chats`` stored as the webhook stores them, not processed; return the rows."""
        for chat in chats:
            type(self).next_update += 1
            self.channel._ingest([(str(self.next_update), self.text_update(self.next_update, chat, f"Я {chat}"))])
        return self.rows().filtered(lambda r: r.state == "pending")

    def test_new_clients_of_one_batch_are_spread_over_the_operators(self):
        self.line.write({"lead_rule": "always", "welcome_message": "Добрый день!"})
        chats = range(801, 807)
        self.ingest(*chats)
        self.process()
        dialogs = [self.dialog_of(str(chat)) for chat in chats]
        self.assertEqual(
            sorted(len([d for d in dialogs if d.operator_id == op]) for op in (self.operator, self.op2, self.op3)),
            [2, 2, 2],
            "each pick counted the dialogs picked before it in the batch",
        )
        for chat, dialog in zip(chats, dialogs, strict=True):
            session = dialog.discuss_channel_id
            self.assertEqual(dialog.contact_id.partner_id, dialog.partner_id)
            self.assertEqual(self.client_messages(dialog).mapped("body"), [f"<p>Я {chat}</p>"])
            self.assertEqual(session.openlines_dialog_id, dialog)
            members = {m.partner_id: m.livechat_member_type for m in session.channel_member_ids}
            self.assertEqual(members[dialog.partner_id], "visitor")
            self.assertEqual(members[dialog.operator_id.partner_id], "agent")
            self.assertEqual((dialog.state, bool(dialog.date_assigned)), ("assigned", True), "its answer clock runs")
            self.assertFalse(dialog.greeting_pending)
            self.assertIn("Добрый день!", session.message_ids.mapped("body")[0], "the line greeted the client")
            self.assertTrue(dialog.lead_queued or dialog.lead_id, "its lead is filed by the lead step")
        self.assertEqual(set(self.rows().mapped("state")), {"done"})

    def test_a_batch_out_of_time_still_posts_the_messages_of_the_dialogs_it_opened(self):
        known = self.client_writes(811, "Снова я")
        rows = self.ingest(811, 812, 813, 811)
        Message = self.env["openlines.message"]
        batch = Message._claim("in")._start_attempts()
        self.assertEqual(batch, rows)
        failed, left = Message._handle_whole_batch(batch, Message.__class__._process_inbound, seconds=0)
        self.assertFalse(failed)
        self.assertEqual(left, rows[3], "out of time after the first row: the known client's next row waits")
        for chat in ("812", "813"):
            self.assertEqual(len(self.client_messages(self.dialog_of(chat))), 1, "no dialog without its message")
        self.assertEqual(len(self.client_messages(known)), 2)
        self.assertEqual(rows[:3].mapped("state"), ["done"] * 3)

    def test_one_person_on_two_bots_in_one_batch_is_one_partner(self):
        other = self.env["openlines.channel"].create(
            {
                "name": "Second bot",
                "line_id": self.line.id,
                "channel_type": "telegram",
                "token": self.fake.token,
                "webhook_secret": "other-secret_1",
                "api_base_url": self.fake.url,
            }
        )
        self.ingest(821, 822)
        type(self).next_update += 1
        other._ingest([(str(self.next_update), self.text_update(self.next_update, 821, "С другого бота"))])
        self.process()
        contacts = self.env["openlines.contact"].search([("external_id", "=", "821")])
        self.assertEqual(len(contacts), 2)
        self.assertEqual(len(contacts.partner_id), 1, "the same Telegram user: the same partner")
        self.assertEqual(len(contacts.dialog_ids), 2)
