from datetime import timedelta

from odoo import api, fields, models
from odoo.fields import Command
from odoo.tools import html2plaintext

#: steps after which the script waits for the client (as the site widget does)
FORWARD_STEPS = ("forward_operator", "create_lead_and_forward")
INPUT_STEPS = ("question_selection", "question_email", "question_phone", "free_input_single", "free_input_multi")


class OpenlinesDialog(models.Model):
    """The line's chatbot answers messenger clients first, with im_livechat's own step methods.

    A new messenger dialog of a line with a chatbot starts in state ``bot``:
    the script's operator partner is the session's bot member and operator.
    Each client message drives the script (:meth:`_chatbot_on_client_message`);
    its texts reach the messenger through the usual outbound hook, question
    steps with their answers as buttons (``chatbot:<answer id>``). A "forward
    to operator" step, or the end of the script, hands the dialog to routing.
    """

    _inherit = "openlines.dialog"

    # -- creation ------------------------------------------------------------------
    @api.model
    def _create_for_contact(self, contact):
        script = contact.channel_id.line_id._chatbot_script()
        if not script:
            return super()._create_for_contact(contact)
        ctx = {"openlines_chatbot_script_id": script.id}
        dialog = super(OpenlinesDialog, self.with_context(**ctx))._create_for_contact(contact.with_context(**ctx))
        dialog = dialog.with_context(openlines_chatbot_script_id=None)
        dialog.write({"state": "bot", "greeting_pending": False})  # the bot greets, not the line
        dialog._kpi_bot_started()
        return dialog

    def _reopen(self):
        """A client who writes again within the line's "continue" window meets the line's chatbot
        again, as in a new dialog: the bot takes the session back and plays its script from the start."""
        res = super()._reopen()
        if self.env.context.get("openlines_client_reopen"):
            for dialog in self.filtered(lambda d: d.state != "closed" and d.channel_id):
                if script := dialog.line_id._chatbot_script():
                    dialog._chatbot_restart(script)
        return res

    def _chatbot_restart(self, script):
        """The bot takes the session back: the operator leaves, the script starts again at the next message."""
        self.ensure_one()
        self._leave_operator()
        session = self._chatbot_session()
        # sudo: chatbot.script - the bot's partner joins the session again
        bot_partner = script.sudo().operator_partner_id
        if bot_partner not in session.channel_member_ids.partner_id:
            now = fields.Datetime.now()
            session.write(
                {
                    "channel_member_ids": [
                        Command.create(
                            self.line_id.livechat_channel_id._get_agent_member_vals(
                                last_interest_dt=now - timedelta(seconds=1),
                                now=now,
                                chatbot_script=script,
                                operator_partner=bot_partner,
                                operator_model="chatbot.script",
                            )
                        )
                    ]
                }
            )
        # as im_livechat's restart: no current step, the previous run's answers forgotten
        session.chatbot_message_ids.unlink()
        session.write(
            {
                "chatbot_current_step_id": False,
                "livechat_operator_id": bot_partner.id,
                "livechat_status": "in_progress",
                "livechat_failure": "no_failure",
            }
        )
        self.write({"state": "bot", "operator_id": False, "assign_deadline": False, "greeting_pending": False})
        self._kpi_bot_started()
        self._post_notice(self.env._("The client came back: the chatbot answers first again."))

    @api.model
    def _new_discuss_channel(self, line, partner, operator, name):
        script = self.env["chatbot.script"].browse(self.env.context.get("openlines_chatbot_script_id"))
        if not script or operator:
            return super()._new_discuss_channel(line, partner, operator, name)
        livechat_channel = line.livechat_channel_id
        now = fields.Datetime.now()
        last_interest_dt = now - timedelta(seconds=1)
        # sudo: chatbot.script - the bot's partner becomes a member of the session
        bot_partner = script.sudo().operator_partner_id
        bot_member = livechat_channel._get_agent_member_vals(
            last_interest_dt=last_interest_dt,
            now=now,
            chatbot_script=script,
            operator_partner=bot_partner,
            operator_model="chatbot.script",
        )
        # sudo: discuss.channel - the session is created by the inbound processing, not by a user
        session = (
            self.env["discuss.channel"]
            .sudo()
            .with_context(openlines_skip_dialog=True, openlines_chatbot_script_id=None)
            .create(
                {
                    "channel_member_ids": [
                        Command.create({"partner_id": partner.id, "livechat_member_type": "visitor"}),
                        Command.create(bot_member),
                    ],
                    "last_interest_dt": last_interest_dt,
                    "livechat_operator_id": bot_partner.id,
                    "livechat_channel_id": livechat_channel.id,
                    "livechat_failure": "no_failure",
                    "livechat_status": "in_progress",
                    "channel_type": "livechat",
                    "name": name,
                }
            )
        )
        # Discuss adds the creating user (OdooBot in the processing cron) as an agent: while a
        # session has an agent, im_livechat stops recording the bot's steps and answers
        stray = session.channel_member_ids.filtered(lambda m: m.partner_id not in partner | bot_partner)
        session.livechat_channel_member_history_ids.filtered(lambda h: h.member_id in stray).unlink()
        stray.unlink()
        return session

    # -- the client talks to the bot -------------------------------------------------
    def _on_client_message(self):
        res = super()._on_client_message()
        for dialog in self.filtered(lambda d: d.state == "bot" and d.channel_id):
            dialog.with_context(selected_answer_id=None)._chatbot_on_client_message()
        return res

    def _chatbot_session(self):
        """The dialog's session, as the bot posts in it (its texts are no operator's answers)."""
        lang = self.line_id.client_lang_id.code or self.partner_id.lang or self.env.lang
        # sudo: discuss.channel - the bot talks in the dialog's session
        return self.discuss_channel_id.sudo().with_context(
            openlines_auto_reply=True, selected_answer_id=None, lang=lang
        )

    def _chatbot_on_client_message(self):
        """Feed the client's last message to the script, as the site widget's step trigger does."""
        self.ensure_one()
        session = self._chatbot_session()
        step = session.chatbot_current_step_id
        bot_member = session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "bot")
        script = bot_member.chatbot_script_id or step.chatbot_script_id or self.line_id._chatbot_script()
        if not script:
            self._chatbot_hand_over()
            return
        if not step:  # the client's first message: the script starts
            self._chatbot_play(script.script_step_ids[:1])
            return
        answer = (
            self.env["mail.message"]
            .sudo()
            .search(
                [
                    ("model", "=", "discuss.channel"),
                    ("res_id", "=", session.id),
                    ("author_id", "=", self.partner_id.id),
                    ("message_type", "=", "comment"),
                ],
                order="id desc",
                limit=1,
            )
        )
        step = step.with_env(session.env)  # the client's language
        if step.step_type == "question_selection":
            selected = self._chatbot_select_answer(step, answer)
            if not selected:
                self._chatbot_play(step)  # not one of the answers: ask again, with the buttons
                return
            if selected.redirect_link:  # the widget opens the link: a messenger gets it as a text
                session._chatbot_post_message(script, selected.redirect_link)
        if step.step_type == "question_email":
            if not script._validate_email(answer.body, session)["success"]:
                return  # im_livechat posted "… does not look like a valid email", the step stays
        self._chatbot_play(step._process_answer(session, answer.body))

    def _chatbot_select_answer(self, step, message):
        """The answer of a question step: the button pressed, or a typed text equal to an answer."""
        session = self._chatbot_session()
        # sudo: chatbot.message - the bot reads the question it asked in this session
        question = (
            self.env["chatbot.message"]
            .sudo()
            .search(
                [("discuss_channel_id", "=", session.id), ("script_step_id", "=", step.id)],
                order="id desc",
                limit=1,
            )
        )
        if question.user_script_answer_id:  # set by im_livechat when the button was pressed
            return question.user_script_answer_id
        typed = html2plaintext(message.body or "").strip().casefold()
        answer = step.answer_ids.filtered(lambda a: a.name.strip().casefold() == typed)[:1]
        if answer and question:
            question.write({"user_script_answer_id": answer.id, "user_raw_script_answer_id": answer.id})
        return answer

    def _chatbot_play(self, step):
        """Post ``step`` and the steps after it until one waits for the client; hand over at the end."""
        self.ensure_one()
        session = self._chatbot_session()
        step = step.with_env(session.env)  # the client's language
        while step:
            session.chatbot_current_step_id = step
            # the steps run as the site's anonymous visitor: im_livechat reads env.user as the visitor
            # (a lead's e-mail and phone come from the answers, not from the processing user)
            visitor_step = step.with_user(self.env.ref("base.public_user")).sudo()
            if step.step_type in FORWARD_STEPS:
                if step.step_type == "create_lead_and_forward":
                    self._chatbot_complete_lead(visitor_step._process_step_create_lead(session))
                session._post_current_chatbot_step_message(step)
                self._chatbot_hand_over()
                return
            if step.step_type == "create_lead":  # as crm_livechat does: the text, then the lead
                message = session._chatbot_post_message(step.chatbot_script_id, step.message)
                self._chatbot_complete_lead(visitor_step._process_step_create_lead(session))
            else:
                message = visitor_step._process_step(session)
            if step.step_type == "question_selection":
                self._chatbot_attach_buttons(step, message)
            if step.step_type in INPUT_STEPS:
                return
            # sudo: chatbot.script.answer - the answers chosen in this session pick the next step
            step = step._fetch_next_step(session.chatbot_message_ids.sudo().user_script_answer_id)
        self._chatbot_hand_over()

    def _chatbot_complete_lead(self, lead):
        """The bot's ``lead`` is the client's: their partner, given the e-mail and phone they typed."""
        self.ensure_one()
        # sudo: crm.lead - the bot files the client's lead
        lead = lead[:1].sudo()
        if not lead or lead.partner_id or not self.partner_id:
            return
        values = self._chatbot_session()._chatbot_find_customer_values_in_messages(
            {"question_email": "email", "question_phone": "phone"}
        )
        # sudo: res.partner - the client's own contact details, as they typed them to the bot
        partner = self.partner_id.sudo()
        partner.write({f: values[f] for f in ("email", "phone") if values.get(f) and not partner[f]})
        lead.partner_id = partner

    def _chatbot_attach_buttons(self, step, message):
        """The answers of a question step go to the messenger as buttons of its message."""
        buttons = [[answer.name, f"chatbot:{answer.id}"] for answer in step.answer_ids]
        if not buttons or not message:
            return
        self.env["openlines.message"].sudo().search(
            [("direction", "=", "out"), ("dialog_id", "=", self.id), ("mail_message_id", "=", message.id)]
        ).write({"buttons": buttons})

    def _chatbot_hand_over(self):
        """The bot is done (forward step or end of script): the dialog goes through routing."""
        self.ensure_one()
        session = self._chatbot_session()
        root = self.env.ref("base.partner_root")
        # sudo: discuss.channel.member - the bot leaves the session; its messages stay its own
        session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "bot").unlink()
        session.write({"livechat_operator_id": root.id, "livechat_status": "need_help", "livechat_failure": "no_agent"})
        self.write({"state": "queued"})
        self._kpi_start_operator_clock()  # the operators' clock starts now; the time with the bot is apart
        self._post_notice(self.env._("The chatbot handed the dialog over to the operators."))
        line = self.line_id
        if not line._is_working_time():
            self._off_hours()
            return
        operator = line._pick_operator(exclude=self.skipped_operator_ids)
        if operator:
            self._take_as(operator)
            session.livechat_failure = "no_answer"
        else:
            self._enter_queue()
