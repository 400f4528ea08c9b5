from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import html2plaintext

from .openlines_message_consent import NO, YES

SITE_CONSENT = [("asked", "Asked"), ("declined", "Declined"), ("given", "Given")]


class OpenlinesDialog(models.Model):
    """A site widget's dialog follows its line as a messenger dialog does.

    im_livechat opens the session (``im_livechat.channel`` picks the operator by the line's
    routing, or leaves the session to the line's queue); here the dialog then lives by the line:
    the clock to pass it on, the welcome / queue / off-hours texts after the visitor's first
    message, the consent step before anything reaches an operator, the hand-over of a chatbot
    (im_livechat's forward step, ``discuss_channel_widget.py``) to the line's routing, and the
    rating form when the chat ends only if the line asks for a rating.
    """

    _inherit = "openlines.dialog"

    site_consent = fields.Selection(
        SITE_CONSENT,
        string="Site visitor's consent",
        readonly=True,
        copy=False,
        help="The consent step of a site visitor's dialog, when the line asks for consent.",
    )
    site_consent_date = fields.Datetime("Site visitor's consent on", readonly=True, copy=False)

    # -- creation -----------------------------------------------------------------------
    @api.model
    def _create_for_site_sessions(self, discuss_channels):
        dialogs = super()._create_for_site_sessions(discuss_channels)
        for dialog in dialogs:
            session = dialog.discuss_channel_id
            if dialog.operator_id:
                dialog.greeting_pending = True  # the line's welcome follows the visitor's first message
                dialog._start_answer_clock()
            elif session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "bot"):
                dialog._kpi_bot_started()  # the line's chatbot talks first (``im_livechat_channel.py``)
            elif dialog.line_id.consent_required:
                dialog.write({"state": "bot"})  # nobody is offered the dialog before the visitor agrees
            else:
                dialog.write({"state": "queued", "greeting_pending": True})
        return dialogs

    # -- the chat ends ------------------------------------------------------------------------
    def _mark_closed(self):
        """A site visitor whose line asks for a rating is shown the widget's rating form when the chat
        ends (``discuss_channel_widget.py``): the dialog is marked as asked, as a messenger's is."""
        asking = self.filtered(lambda d: d.state != "closed" and not d.channel_id and d.line_id.rating_request)
        res = super()._mark_closed()
        asking.write({"rating_requested": True})
        return res

    # -- the visitor writes -------------------------------------------------------------------
    def _on_client_message(self):
        res = super()._on_client_message()
        for dialog in self.filtered(lambda d: not d.channel_id and d.state == "bot" and d.line_id.consent_required):
            if dialog.site_consent != "given":
                dialog._site_consent_step()
        return res

    def _site_consent_step(self):
        """The visitor's message before the consent: "yes" accepts, "no" refuses, else the agreement is shown."""
        self.ensure_one()
        line = self.line_id
        answer = html2plaintext(self._site_last_visitor_message().body or "").strip().lower()
        if answer in YES:
            self._site_consent_accept()
        elif answer in NO:
            self.site_consent = "declined"
            if text := line._client_text("consent_decline_message"):
                self._post_auto_reply(text)
        elif not self.site_consent:  # shown once: a refusal's answer says how to agree later
            self.site_consent = "asked"
            if text := line._client_text("consent_text"):
                self._post_auto_reply(text)

    def _site_last_visitor_message(self):
        return self._session_last_comment(
            Domain("author_guest_id", "!=", False) | Domain("author_id", "=", self.partner_id.id or 0)
        )

    def _site_consent_accept(self):
        """The visitor agreed: the dialog goes through the line's routing, as after a messenger's consent."""
        self.ensure_one()
        line = self.line_id
        self.write({"site_consent": "given", "site_consent_date": fields.Datetime.now(), "state": "queued"})
        self._post_notice(
            self.env._("The visitor accepted the agreement (version %(version)s).", version=line.consent_version)
        )
        self._kpi_start_operator_clock()
        if line._is_working_time() and (operator := line._pick_operator(exclude=self.skipped_operator_ids)):
            self._take_as(operator)
        self._greet()

    # -- im_livechat's chatbot hands over -----------------------------------------------------
    def _site_bot_forwarded(self):
        """im_livechat's forward step ran in a site session: the operator it found gets the dialog,
        else the dialog waits in the line's queue (the client hears the queue or off-hours text)."""
        self.ensure_one()
        # sudo: discuss.channel.member - the agent im_livechat's forward step added to the session
        agent = (
            self.discuss_channel_id.sudo()
            .channel_member_ids.filtered(lambda m: m.livechat_member_type == "agent")
            .partner_id.user_ids[:1]
        )
        self.write({"state": "queued"})
        self._kpi_start_operator_clock()
        self._post_notice(self.env._("The chatbot handed the dialog over to the operators."))
        if agent:
            self._take_as(agent)
        elif not self.line_id._is_working_time():
            self._off_hours()
        else:
            self._enter_queue()
