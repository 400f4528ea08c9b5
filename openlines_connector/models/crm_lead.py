from odoo import fields, models

MANAGER = "openlines_connector.group_openlines_manager"


class CrmLead(models.Model):
    """A lead's dialogs, one click away from the lead."""

    _inherit = "crm.lead"

    openlines_dialog_ids = fields.One2many("openlines.dialog", "lead_id", string="Dialogs", groups=MANAGER)
    openlines_dialog_count = fields.Integer("Dialog count", compute="_compute_openlines_dialog_count", groups=MANAGER)

    def _compute_openlines_dialog_count(self):
        counts = dict(self.env["openlines.dialog"]._read_group([("lead_id", "in", self.ids)], ["lead_id"], ["__count"]))
        for lead in self:
            lead.openlines_dialog_count = counts.get(lead, 0)

    def action_view_openlines_dialogs(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("lead_id", "=", self.id)]
        action["context"] = {}
        return action
