import re

from odoo import models

BUTTON = re.compile(r"^chatbot:(\d+)$")


class OpenlinesMessage(models.Model):
    """A chatbot answer button pressed in the messenger: the client "says" the answer.

    The answer's label is posted as the client's message with im_livechat's
    ``selected_answer_id`` context, the way the site widget selects an answer;
    the dialog's script then moves on (see ``openlines.dialog._chatbot_on_client_message``).
    """

    _inherit = "openlines.message"

    def _on_button(self, connector, event):
        match = BUTTON.match((event.text or "").strip())
        # sudo: chatbot.script.answer - the client picks one of the answers the bot offered
        answer = self.env["chatbot.script.answer"].sudo().browse(int(match.group(1))).exists() if match else None
        if not answer:
            return super()._on_button(connector, event)
        connector.acknowledge_button(event)
        lang = self.channel_id.line_id.client_lang_id.code
        event.text = answer.with_context(lang=lang).name if lang else answer.name
        return self.with_context(selected_answer_id=answer.id)._on_message(connector, event)
