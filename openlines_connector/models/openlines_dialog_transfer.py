from odoo import api, fields, models
from odoo.exceptions import UserError


class OpenlinesDialogTransfer(models.TransientModel):
    """Transfer a dialog to a colleague or to another line's queue, with a note (dialog form, Discuss).

    The wizard only collects the choice: ``openlines.dialog.action_transfer`` checks the caller and
    the target, moves the dialog and tells the client.
    """

    _name = "openlines.dialog.transfer"
    _description = "Transfer an Open Lines dialog"

    dialog_id = fields.Many2one("openlines.dialog", string="Dialog", required=True, ondelete="cascade", readonly=True)
    target = fields.Selection(
        [("user", "To a colleague"), ("line", "To another line's queue")],
        string="Transfer",
        default="user",
        required=True,
    )
    user_id = fields.Many2one(
        "res.users",
        string="Colleague",
        domain="[('id', 'in', allowed_user_ids)]",
        help="The operator who gets the dialog.",
    )
    allowed_user_ids = fields.Many2many("res.users", compute="_compute_allowed_user_ids")
    target_line = fields.Selection(
        selection="_selection_target_line",
        string="Line",
        help="The dialog waits in this line's queue for its next available operator.",
    )
    note = fields.Text(help="For the colleagues only: the client never sees it.")

    @api.model
    def _selection_target_line(self):
        """The active lines of the user's companies, by name (a manager may not read other lines)."""
        # sudo: openlines.line - an operator transfers to a line he does not answer
        lines = self.env["openlines.line"].sudo().search([("company_id", "in", self.env.companies.ids)])
        return [(str(line.id), line.name) for line in lines]

    @api.depends("dialog_id")
    def _compute_allowed_user_ids(self):
        for wizard in self:
            dialog = wizard.dialog_id
            # sudo: openlines.line - the line's operators and supervisors, whatever the caller may read
            line = dialog.line_id.sudo()
            users = (line.user_ids | line.supervisor_ids).filtered(
                lambda u, dialog=dialog: dialog._may_get(u, dialog.line_id)  # the rule the transfer checks
            )
            wizard.allowed_user_ids = users - dialog.sudo().operator_id

    def action_transfer(self):
        self.ensure_one()
        if self.target == "user":
            if not self.user_id:
                raise UserError(self.env._("Choose the colleague who gets the dialog."))
            self.dialog_id.action_transfer(user_id=self.user_id.id, note=self.note)
        else:
            line_id = int(self.target_line or 0)
            if not line_id:
                raise UserError(self.env._("Choose the line whose queue gets the dialog."))
            if line_id == self.dialog_id.line_id.id:
                raise UserError(self.env._("The dialog is already in this line."))
            self.dialog_id.action_transfer(line_id=line_id, note=self.note)
        return {"type": "ir.actions.act_window_close"}
