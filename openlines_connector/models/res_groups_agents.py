from odoo import models


class ResGroups(models.Model):
    """im_livechat takes the users a group change removes from the Live Chat group off every
    live-chat channel (``res.groups.write``): the lines they operate keep them."""

    _inherit = "res.groups"

    def write(self, vals):
        if vals.get("user_ids"):
            self = self.with_context(openlines_group_change=True)  # noqa: PLW0642 - read by the lines' agent sync
        return super().write(vals)
