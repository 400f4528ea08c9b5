from odoo import models


class DiscussChannel(models.Model):
    """Leads made in a dialog's session (``/lead``) belong to the dialog."""

    _inherit = "discuss.channel"

    def _convert_visitor_to_lead(self, partner, key):
        lead = super()._convert_visitor_to_lead(partner, key)
        # sudo: openlines.dialog - the operator files a lead from their own session
        self.sudo().openlines_dialog_id._adopt_lead(lead)
        return lead
