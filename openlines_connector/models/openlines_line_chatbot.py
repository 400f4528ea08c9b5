from odoo import fields, models


class OpenlinesLine(models.Model):
    """A line can answer its messenger clients with an im_livechat chatbot script first.

    The script is set on the line itself: im_livechat's channel rules pick a
    script by page URL and country, which a messenger chat does not have.
    The site widget keeps using the live-chat channel's own rules.
    """

    _inherit = "openlines.line"

    chatbot_script_id = fields.Many2one(
        "chatbot.script",
        string="Chatbot",
        domain=[("script_step_ids", "!=", False)],
        ondelete="set null",
        help="New messenger dialogs are answered by this chatbot script first; its "
        '"Forward to operator" step, or its end, hands the dialog to the operators.',
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
