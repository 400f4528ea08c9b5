from odoo import models


class DiscussChannel(models.Model):
    """im_livechat's chatbot in a site session of a line (issue 16).

    - its texts are the line's, not an operator's answer: they neither answer the visitor nor
      stop a response-time clock (``openlines_auto_reply``, read by ``discuss_channel.py``);
    - its forward step hands the dialog to the line's routing (``openlines_dialog_widget.py``): the
      operator it found (picked by the line, ``im_livechat_channel.py``), else the line's queue.
    """

    _inherit = "discuss.channel"

    def _chatbot_post_message(self, chatbot_script, body):
        channel = self.with_context(openlines_auto_reply=True)
        return super(DiscussChannel, channel)._chatbot_post_message(chatbot_script, body)

    def _forward_human_operator(self, chatbot_script_step=None, users=None):
        # sudo: openlines.dialog - the visitor's forward step moves the dialog of their own session
        dialog = self.sudo().openlines_dialog_id
        res = super()._forward_human_operator(chatbot_script_step=chatbot_script_step, users=users)
        if dialog and not dialog.channel_id and dialog.state == "bot":
            dialog._site_bot_forwarded()
        return res
