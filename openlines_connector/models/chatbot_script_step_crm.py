from odoo import models


class ChatbotScriptStep(models.Model):
    """Leads a chatbot makes in a dialog belong to the dialog."""

    _inherit = "chatbot.script.step"

    def _process_step_create_lead(self, discuss_channel):
        leads = super()._process_step_create_lead(discuss_channel)
        # sudo: openlines.dialog - the bot (or visitor) files the lead of the dialog it talks in
        discuss_channel.sudo().openlines_dialog_id._adopt_lead(leads[:1])
        return leads
