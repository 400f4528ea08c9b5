"""Working in Discuss (issue 16) in a real browser: an operator previews the queue and takes a
dialog, sees from which messenger and line each conversation comes, writes an internal note,
closes a dialog with the line's confirmation, transfers another to a colleague with a note and
leaves a third (which closes it). The fake Telegram API shows what reached the client."""

from odoo.tests import new_test_user, tagged

from . import test_tour
from .common import OpenlinesCase

QUEUED = "Можно ли оплатить при получении?"
NOTE = "Клиент постоянный, можно скидку"
TRANSFER_NOTE = "Вопрос по возврату"


@tagged("post_install", "-at_install")
class TestDiscussWorkTour(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        test_tour.TestDiscussTour._pregenerate_assets()
        super().setUpClass()
        cls.colleague = new_test_user(
            cls.env,
            login="ol_tour_colleague",
            name="Carl Colleague",
            groups="base.group_user,openlines_connector.group_openlines_manager",
        )
        cls.line.write(
            {
                "user_ids": [(4, cls.colleague.id)],
                "close_confirmation": True,
                "close_message": "Диалог закрыт.",
                "transfer_message": "Вам ответит {operator}.",
            }
        )

    def client_named(self, chat_id, first_name, text):
        type(self).next_update += 1
        update = self.text_update(self.next_update, chat_id, text)
        for who in (update["message"]["from"], update["message"]["chat"]):
            who.update(first_name=first_name, last_name="Client", username=first_name.lower())
        self.receive(update)
        return self.dialog_of(str(chat_id))

    def test_operator_works_in_discuss(self):
        self.env["mail.presence"].search([("user_id", "in", self.line.user_ids.ids)]).unlink()
        queued = self.client_named(1606001, "Queued", QUEUED)
        self.assertEqual(queued.state, "queued")
        self.env["mail.presence"]._update_presence(self.operator)
        assigned = self.client_named(1606002, "Assigned", "Здравствуйте")
        self.assertEqual(assigned.operator_id, self.operator)
        leaving = self.client_named(1606003, "Leaving", "Спасибо, всё понятно")
        self.assertEqual(leaving.operator_id, self.operator)
        self.send()
        self.fake.calls.clear()

        self.start_tour("/odoo/discuss", "openlines_discuss_work_tour", login="ol_operator", timeout=180)

        # queue preview, then Take; then closed with the line's confirmation
        self.assertEqual(queued.operator_id, self.operator)
        self.assertEqual(queued.state, "closed")
        # the internal note stays in Odoo
        session = assigned.discuss_channel_id
        note = session.message_ids.filtered(lambda m: NOTE in (m.body or ""))
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        # transferred to the colleague, with the note for him
        self.assertEqual(assigned.operator_id, self.colleague)
        self.assertIn(TRANSFER_NOTE, session.message_ids.filtered(lambda m: m.message_type == "notification")[0].body)
        self.send()
        texts = [call["text"] for call in self.fake.calls_of("sendMessage")]
        self.assertIn("Диалог закрыт.", texts)
        self.assertIn("Вам ответит Carl Colleague.", texts)
        self.assertFalse([t for t in texts if NOTE in t or TRANSFER_NOTE in t], "notes never reach the client")
        # leaving the conversation closed the dialog (after the line's question)
        self.assertEqual(leaving.state, "closed")
        self.assertNotIn(self.operator.partner_id, leaving.discuss_channel_id.channel_member_ids.partner_id)
