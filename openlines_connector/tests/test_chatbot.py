import json

from odoo.tests import Form, new_test_user, tagged

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestChatbot(OpenlinesCase):
    """An im_livechat chatbot script set on a line answers Telegram clients as on the site widget."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.next_update = 40000
        cls.script = cls.env["chatbot.script"].create(
            {
                "title": "Shop bot",
                "script_step_ids": [
                    (0, 0, {"step_type": "text", "message": "Hello, I am the shop bot."}),
                    (
                        0,
                        0,
                        {
                            "step_type": "question_selection",
                            "message": "What do you need?",
                            "answer_ids": [(0, 0, {"name": "Buy"}), (0, 0, {"name": "Support"})],
                        },
                    ),
                    (0, 0, {"step_type": "free_input_single", "message": "Your name, please?"}),
                    (0, 0, {"step_type": "forward_operator", "message": "Connecting you with an operator."}),
                ],
            }
        )
        cls.question = cls.script.script_step_ids.filtered(lambda s: s.step_type == "question_selection")
        cls.buy, cls.support = cls.question.answer_ids.sorted("sequence")
        cls.bot = cls.script.operator_partner_id
        cls.line.chatbot_script_id = cls.script

    # -- helpers -------------------------------------------------------------
    def client_presses(self, chat_id, data):
        type(self).next_update += 1
        press = self.fixture("callback_query", self.next_update)
        press["callback_query"]["from"]["id"] = press["callback_query"]["message"]["chat"]["id"] = chat_id
        press["callback_query"]["data"] = data
        self.receive(press)
        return self.dialog_of(str(chat_id))

    def sent(self):
        """Texts and button data of the messages sent to Telegram since the last call."""
        self.send()
        result = []
        for request in self.fake.calls_of("sendMessage"):
            markup = request.get("reply_markup") or {}
            markup = markup if isinstance(markup, dict) else json.loads(markup)
            data = [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
            result.append((request["text"], data))
        self.fake.calls.clear()
        return result

    def bot_texts(self, dialog):
        messages = dialog.discuss_channel_id.message_ids.filtered(lambda m: m.author_id == self.bot)
        return [m.body for m in messages.sorted("id")]

    # -- tests ---------------------------------------------------------------
    def test_first_message_starts_the_script_with_the_bot_as_operator(self):
        dialog = self.client_writes(901, "Hi")
        self.assertEqual(dialog.state, "bot")
        self.assertFalse(dialog.operator_id)
        session = dialog.discuss_channel_id
        self.assertEqual(session.livechat_operator_id, self.bot)
        bot_member = session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "bot")
        self.assertEqual((bot_member.partner_id, bot_member.chatbot_script_id), (self.bot, self.script))
        self.assertEqual(
            self.sent(),
            [
                ("Hello, I am the shop bot.", []),
                ("What do you need?", [f"chatbot:{self.buy.id}", f"chatbot:{self.support.id}"]),
            ],
        )
        self.assertEqual(len(self.bot_texts(dialog)), 2, "the bot is the author of its texts in Discuss")

    def test_a_button_press_answers_the_question_and_forward_assigns_an_operator(self):
        self.client_writes(902, "Hi")
        self.sent()
        dialog = self.client_presses(902, f"chatbot:{self.buy.id}")
        self.assertEqual(self.client_messages(dialog)[-1].body, "<p>Buy</p>")
        session = dialog.discuss_channel_id
        question = session.chatbot_message_ids.filtered(lambda m: m.script_step_id == self.question)
        self.assertEqual(question.user_script_answer_id, self.buy)
        self.assertEqual(self.sent(), [("Your name, please?", [])])
        self.assertEqual(dialog.state, "bot")

        dialog = self.client_writes(902, "Ivan")
        self.assertEqual(self.sent(), [("Connecting you with an operator.", [])])
        self.assertEqual(dialog.state, "assigned")
        self.assertEqual(dialog.operator_id, self.operator)
        self.assertEqual(session.livechat_operator_id, self.operator.partner_id)
        self.assertNotIn(self.bot, session.channel_member_ids.partner_id, "the bot left the session")
        self.assertIn("Connecting you with an operator.", self.bot_texts(dialog)[-1])
        answers = session.chatbot_message_ids.filtered(lambda m: m.script_step_id.step_type == "free_input_single")
        self.assertIn("Ivan", "".join(answers.mapped(lambda m: m.user_raw_answer or "")))

        # from now on the client talks to the operator, not to the bot
        self.client_writes(902, "Are you there?")
        self.assertEqual(self.sent(), [])

    def test_a_typed_answer_counts_and_an_unknown_one_repeats_the_question(self):
        self.client_writes(903, "Hi")
        self.sent()
        self.client_writes(903, "what?")
        self.assertEqual(self.sent(), [("What do you need?", [f"chatbot:{self.buy.id}", f"chatbot:{self.support.id}"])])
        self.client_writes(903, "support")
        self.assertEqual(self.sent(), [("Your name, please?", [])])

    def test_forward_with_nobody_online_queues_the_dialog(self):
        self.env["mail.presence"].search([("user_id", "=", self.operator.id)]).unlink()
        self.client_writes(904, "Hi")
        self.client_presses(904, f"chatbot:{self.support.id}")
        dialog = self.client_writes(904, "Ivan")
        self.assertEqual(dialog.state, "queued")
        self.assertFalse(dialog.operator_id)

    def test_a_client_who_comes_back_meets_the_chatbot_again(self):
        """Within the line's "continue" window a closed dialog reopens with its chatbot, as a new one would."""
        self.client_writes(907, "Hi")
        self.client_presses(907, f"chatbot:{self.buy.id}")
        dialog = self.client_writes(907, "Ivan")
        self.assertEqual((dialog.state, dialog.operator_id), ("assigned", self.operator))
        self.operator_reply(dialog, "Чем помочь?")
        dialog.action_close()
        self.sent()
        again = self.client_writes(907, "Снова я")
        self.assertEqual(again, dialog, "the same dialog continues")
        self.assertEqual((dialog.state, dialog.operator_id.id), ("bot", False))
        session = dialog.discuss_channel_id
        self.assertEqual(session.livechat_operator_id, self.bot)
        self.assertIn(self.bot, session.channel_member_ids.partner_id)
        self.assertNotIn(self.operator.partner_id, session.channel_member_ids.partner_id)
        self.assertEqual(
            self.sent(),
            [
                ("Hello, I am the shop bot.", []),
                ("What do you need?", [f"chatbot:{self.buy.id}", f"chatbot:{self.support.id}"]),
            ],
            "the script starts from its first step",
        )
        self.client_presses(907, f"chatbot:{self.support.id}")
        self.client_writes(907, "Ivan")
        self.assertEqual((dialog.state, dialog.operator_id), ("assigned", self.operator), "and hands over again")

    def test_an_operators_reopen_keeps_the_operator(self):
        dialog = self.client_writes(908, "Hi")
        dialog._take_as(self.operator)
        dialog.action_close()
        dialog.action_reopen()
        self.assertEqual((dialog.state, dialog.operator_id), ("assigned", self.operator), "no bot: he reopened it")

    def test_the_end_of_a_script_without_forward_hands_over_to_routing(self):
        self.line.chatbot_script_id = self.env["chatbot.script"].create(
            {"title": "Short bot", "script_step_ids": [(0, 0, {"step_type": "text", "message": "We are on it."})]}
        )
        dialog = self.client_writes(905, "Hi")
        self.assertEqual(self.sent(), [("We are on it.", [])])
        self.assertEqual(dialog.state, "assigned")
        self.assertEqual(dialog.operator_id, self.operator)

    def test_a_create_lead_step_gives_the_dialog_its_lead(self):
        self.line.lead_rule = "never"
        self.line.chatbot_script_id = self.env["chatbot.script"].create(
            {
                "title": "Lead bot",
                "script_step_ids": [
                    (0, 0, {"step_type": "question_email", "message": "Your e-mail?"}),
                    (0, 0, {"step_type": "create_lead", "message": "Thanks, we will write to you."}),
                ],
            }
        )
        self.client_writes(906, "Hi")
        self.assertEqual(self.sent(), [("Your e-mail?", [])])
        self.client_writes(906, "not an e-mail")
        self.assertIn("does not look like a valid email", self.sent()[0][0])
        dialog = self.client_writes(906, "ivan@example.com")
        self.assertEqual(self.sent(), [("Thanks, we will write to you.", [])])
        self.assertTrue(dialog.lead_id)
        self.assertEqual(dialog.lead_id.partner_id, dialog.partner_id)
        self.assertEqual(dialog.lead_id.email_from, "ivan@example.com")
        self.assertEqual(dialog.partner_id.email, "ivan@example.com")
        self.assertEqual(dialog.state, "assigned", "the end of the script hands the dialog over")

    def test_the_line_form_shows_the_chatbot(self):
        """An administrator picks the chatbot on the line's form; the next client meets that bot."""
        admin = new_test_user(
            self.env, login="ol_bot_admin", groups="base.group_user,openlines_connector.group_openlines_admin"
        )
        other = self.script.copy({"title": "Other bot"})
        other.script_step_ids[0].message = "Hello from the other bot."
        with Form(self.line.with_user(admin), view="openlines_connector.openlines_line_view_form") as form:
            self.assertFalse(form._get_modifier("chatbot_script_id", "invisible"), "the chatbot field is shown")
            self.assertEqual(form.chatbot_script_id, self.script)
            form.chatbot_script_id = other
        self.assertEqual(self.line.chatbot_script_id, other)
        self.client_writes(908, "Hi")
        self.assertEqual(self.sent()[0], ("Hello from the other bot.", []))

    def test_an_answer_with_a_link_sends_the_link(self):
        self.support.redirect_link = "https://example.com/support"
        self.client_writes(907, "Hi")
        self.sent()
        self.client_presses(907, f"chatbot:{self.support.id}")
        self.assertEqual(self.sent(), [("https://example.com/support", []), ("Your name, please?", [])])
