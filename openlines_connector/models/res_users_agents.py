from odoo import models


class ResUsers(models.Model):
    """im_livechat takes a user who loses its Live Chat group off every live-chat channel
    (``res.users.write``): the lines he operates keep him (``openlines.line._sync_operators_from_agents``)."""

    _inherit = "res.users"

    def write(self, vals):
        if vals.get("group_ids"):
            self = self.with_context(openlines_group_change=True)  # noqa: PLW0642 - read by the lines' agent sync
        return super().write(vals)
