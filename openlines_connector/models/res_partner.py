from odoo import fields, models

MANAGER = "openlines_connector.group_openlines_manager"


class ResPartner(models.Model):
    """A client's contacts in every messenger and their dialogs, on the partner form."""

    _inherit = "res.partner"

    openlines_contact_ids = fields.One2many(
        "openlines.contact", "partner_id", string="Messenger contacts", groups=MANAGER
    )
    openlines_dialog_ids = fields.One2many("openlines.dialog", "partner_id", string="Dialogs", groups=MANAGER)
    openlines_dialog_count = fields.Integer("Dialog count", compute="_compute_openlines_dialog_count", groups=MANAGER)

    def _compute_openlines_dialog_count(self):
        # counted through the record rules: an operator counts the dialogs they may open
        counts = dict(
            self.env["openlines.dialog"]._read_group([("partner_id", "in", self.ids)], ["partner_id"], ["__count"])
        )
        for partner in self:
            partner.openlines_dialog_count = counts.get(partner, 0)

    def action_view_openlines_dialogs(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {}
        return action
