from odoo import api, fields, models


class OpenlinesLineOperator(models.Model):
    """An operator of a line, in the line's order (used by "strictly in order")."""

    _name = "openlines.line.operator"
    _description = "Open Line operator"
    _order = "line_id, sequence, id"

    line_id = fields.Many2one("openlines.line", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    user_id = fields.Many2one(
        "res.users", string="Operator", required=True, ondelete="cascade", domain=[("share", "=", False)]
    )

    _line_user_uniq = models.UniqueIndex("(line_id, user_id)", "An operator is listed once per line.")

    @api.model_create_multi
    def create(self, vals_list):
        operators = super().create(vals_list)
        operators.line_id._sync_agents()
        return operators

    def write(self, vals):
        lines = self.line_id
        res = super().write(vals)
        (lines | self.line_id)._sync_agents()
        return res

    def unlink(self):
        lines = self.line_id
        res = super().unlink()
        lines._sync_agents()
        return res
