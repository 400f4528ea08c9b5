from odoo import api, fields, models
from odoo.exceptions import UserError


class OpenlinesContactMerge(models.TransientModel):
    """Tie several messenger contacts to one partner: the same client, written from several places."""

    _name = "openlines.contact.merge"
    _description = "Open Lines: merge clients"

    contact_ids = fields.Many2many("openlines.contact", string="Contacts", required=True)
    partner_id = fields.Many2one(
        "res.partner",
        string="Client",
        required=True,
        help="The partner every selected contact, and its dialogs, will belong to.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "openlines.contact":
            contacts = self.env["openlines.contact"].browse(self.env.context.get("active_ids", [])).exists()
            values["contact_ids"] = [fields.Command.set(contacts.ids)]
            values["partner_id"] = contacts.sorted("id")[:1].partner_id.id
        return values

    def action_merge(self):
        self.ensure_one()
        # sudo: every contact of the wizard, then checked as the caller (a many2many read hides the others)
        contacts = self.sudo().contact_ids.with_env(self.env)
        if not contacts:
            raise UserError(self.env._("Select the contacts to merge."))
        contacts._check_merge(self.partner_id)
        # sudo: the caller's rights and the partner are checked above; the ties are the addon's
        contacts.sudo()._move_to_partner(self.partner_id)
        return {"type": "ir.actions.act_window_close"}
