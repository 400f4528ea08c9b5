from odoo import api, fields, models
from odoo.exceptions import UserError


class OpenlinesLine(models.Model):
    """An Open Line: one queue of dialogs and its settings.

    The line delegates to an ``im_livechat.channel``: its name is the site
    widget's title, its agents are the line's operators, and every dialog is a
    live-chat session of that channel, so Odoo's widget, Discuss screens,
    ratings and reports keep working.
    """

    _name = "openlines.line"
    _description = "Open Line"
    _inherits = {"im_livechat.channel": "livechat_channel_id"}
    _inherit = ["mail.thread"]
    _order = "sequence, id"

    livechat_channel_id = fields.Many2one(
        "im_livechat.channel",
        string="Live chat channel",
        required=True,
        ondelete="cascade",
        index=True,
        help="The live-chat channel behind this line: its widget, sessions and reports.",
    )
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    channel_ids = fields.One2many("openlines.channel", "line_id", string="Channels")
    dialog_ids = fields.One2many("openlines.dialog", "line_id", string="Dialogs")
    channel_count = fields.Integer(compute="_compute_counts", string="Channel count")
    dialog_count = fields.Integer(compute="_compute_counts", string="Dialog count")
    open_dialog_count = fields.Integer(compute="_compute_counts", string="Open dialogs")
    reopen_hours = fields.Integer(
        "Continue a dialog within (hours)",
        default=24,
        help="A client who writes again within this many hours after the dialog was closed "
        "continues the same dialog; later, a new dialog starts.",
    )

    def _compute_counts(self):
        Dialog = self.env["openlines.dialog"]
        totals = dict(Dialog._read_group([("line_id", "in", self.ids)], ["line_id"], ["__count"]))
        opened = dict(
            Dialog._read_group([("line_id", "in", self.ids), ("state", "!=", "closed")], ["line_id"], ["__count"])
        )
        channels = dict(
            self.env["openlines.channel"]._read_group([("line_id", "in", self.ids)], ["line_id"], ["__count"])
        )
        for line in self:
            line.dialog_count = totals.get(line, 0)
            line.open_dialog_count = opened.get(line, 0)
            line.channel_count = channels.get(line, 0)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_dialogs(self):
        if self.dialog_ids:
            raise UserError(self.env._("A line with dialogs cannot be deleted: archive it instead."))

    def action_view_dialogs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("line_id", "=", self.id)]
        action["context"] = {"default_line_id": self.id}
        return action

    def action_view_channels(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_channel_action")
        action["domain"] = [("line_id", "=", self.id)]
        action["context"] = {"default_line_id": self.id}
        return action

    def _pick_operator(self):
        """Return the operator a new dialog goes to, or an empty recordset.

        The first available operator (online, under the session limit) of the
        line, chosen by im_livechat's own rules; the routing engine refines it.
        """
        self.ensure_one()
        # sudo: im_livechat.channel - reading operator presence is internal routing
        return self.livechat_channel_id.sudo()._get_operator()
