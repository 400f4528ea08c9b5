from odoo import models

from odoo.addons.im_livechat.models.discuss_channel import is_livechat_channel
from odoo.addons.mail.tools.discuss import Store


class DiscussChannel(models.Model):
    """im_livechat's chatbot in a site session of a line (issue 16).

    - its texts are the line's, not an operator's answer: they neither answer the visitor nor
      stop a response-time clock (``openlines_auto_reply``, read by ``discuss_channel.py``);
    - its forward step hands the dialog to the line's routing (``openlines_dialog_widget.py``): the
      operator it found (picked by the line, ``im_livechat_channel.py``), else the line's queue;
    - the visitor is asked for a rating when the chat ends only when the line says "Ask for a rating"
      (``openlines_rating_request``, read by the widget's feedback panel; the feedback route refuses
      a rating otherwise, ``controllers/widget.py``).
    """

    _inherit = "discuss.channel"

    def _message_post_after_hook(self, message, msg_vals):
        """What the session's chatbot posts (its welcome steps too) is the line's text, not an answer."""
        # sudo: chatbot.script.step - the session's current step names its bot
        step = self.sudo().chatbot_current_step_id if self.channel_type == "livechat" else None
        if step and message.author_id and message.author_id == step.chatbot_script_id.operator_partner_id:
            self = self.with_context(openlines_auto_reply=True)  # noqa: PLW0642 - read by discuss_channel.py
        return super()._message_post_after_hook(message, msg_vals)

    def _forward_human_operator(self, chatbot_script_step=None, users=None):
        # sudo: openlines.dialog - the visitor's forward step moves the dialog of their own session
        dialog = self.sudo().openlines_dialog_id
        res = super()._forward_human_operator(chatbot_script_step=chatbot_script_step, users=users)
        if dialog and not dialog.channel_id and dialog.state == "bot":
            dialog._site_bot_forwarded()
        return res

    def _openlines_rating_request(self):
        """Whether the visitor is asked to rate this session: its line says so (im_livechat's other
        channels always ask)."""
        self.ensure_one()
        # sudo: openlines.dialog, openlines.line - the line's setting, whoever reads the session
        dialog = self.sudo().openlines_dialog_id
        return dialog.line_id.rating_request if dialog else True

    def _to_store_defaults(self, target):
        return [
            *super()._to_store_defaults(target),
            Store.Attr(
                "openlines_rating_request",
                lambda channel: channel._openlines_rating_request(),
                predicate=is_livechat_channel,
            ),
        ]
