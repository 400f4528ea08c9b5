from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    openlines_public_url = fields.Char(
        "Public address for webhooks",
        config_parameter="openlines.public_url",
        help="The https:// address messengers use to reach this Odoo, when it differs from the web base URL "
        "(e.g. behind a proxy). Leave empty to use the web base URL.",
    )
    openlines_line_count = fields.Integer(compute="_compute_openlines_counts")
    openlines_channel_count = fields.Integer(compute="_compute_openlines_counts")

    def _compute_openlines_counts(self):
        line_count = self.env["openlines.line"].search_count([])
        channel_count = self.env["openlines.channel"].search_count([])
        for settings in self:
            settings.openlines_line_count = line_count
            settings.openlines_channel_count = channel_count
