from odoo import api, fields, models

from .openlines_guard import ADMIN, fill_company


class OpenlinesMessage(models.Model):
    """The message log's company (its channel's), and the raw payload kept to administrators."""

    _inherit = "openlines.message"

    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True, default=lambda self: self.env.company
    )
    # the raw request may carry what a messenger sends with it (VK: the webhook secret, stripped on
    # arrival by ``openlines.channel._scrub``) and everything the client sent: administrators only
    payload = fields.Text(groups=ADMIN)

    @api.model_create_multi
    def create(self, vals_list):
        return super().create(fill_company(self.env, vals_list, "channel_id", "openlines.channel"))
