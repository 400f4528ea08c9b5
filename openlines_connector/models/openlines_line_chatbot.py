from odoo import fields, models


class OpenlinesLine(models.Model):
    """A line can answer its clients with an im_livechat chatbot script first.

    The script is set on the line itself, for messenger clients and site visitors alike: a
    visitor of the line's widget meets the same script as a Telegram client of the line, and a
    line without a script starts none on its widget either (``im_livechat_channel.py``: the live-chat
    channel's rules still choose the pages and countries the button shows on, not the chatbot).
    """

    _inherit = "openlines.line"

    chatbot_script_id = fields.Many2one(
        "chatbot.script",
        string="Chatbot",
        domain=[("script_step_ids", "!=", False)],
        ondelete="set null",
        help="New dialogs, from messengers and from the site widget, are answered by this chatbot script first; "
        'its "Forward to operator" step, or its end, hands the dialog to the operators. '
        "The chatbots of the live-chat channel's rules are not used for a line.",
    )

    def _chatbot_script(self):
        """The script that answers new (and reopened) messenger dialogs of the line, if any."""
        self.ensure_one()
        # sudo: chatbot.script - the inbound processing reads the line's script
        script = self.sudo().chatbot_script_id
        if not self.active:  # an archived line takes nothing in: no bot either
            return script.browse()
        return script if script.active and script.script_step_ids else script.browse()

    def _pick_operator(self, exclude=None):
        if self.env.context.get("openlines_chatbot_script_id"):  # the chatbot talks first: nobody is picked yet
            return self.env["res.users"]
        return super()._pick_operator(exclude=exclude)
