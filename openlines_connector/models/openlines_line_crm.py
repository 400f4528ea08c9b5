from odoo import fields, models

LEAD_RULES = [
    ("always", "For every new dialog"),
    ("no_open_lead", "Only for a client with no open lead"),
    ("never", "Never (by hand or by the chatbot)"),
]


class OpenlinesLine(models.Model):
    """CRM rules of a line, and the directors who supervise it."""

    _inherit = "openlines.line"

    lead_rule = fields.Selection(
        LEAD_RULES,
        string="Create leads",
        default="no_open_lead",
        required=True,
        help="When a new dialog starts: create a lead for every dialog; only when the client has no open "
        "lead (else the dialog joins that lead); or never (leads are then made by hand from the dialog).",
    )
    lead_rate_limit = fields.Integer(
        "New leads per minute",
        default=20,
        help="At most this many leads per minute from each channel of the line (0: no limit). Beyond it, or while "
        "a channel is flooded, a new client gets their lead with their next message.",
    )
    team_id = fields.Many2one(
        "crm.team",
        string="Sales team",
        index="btree_not_null",
        ondelete="set null",
        help="The sales team of the leads this line creates.",
    )
    supervisor_ids = fields.Many2many(
        "res.users",
        "openlines_line_supervisor_rel",
        "line_id",
        "user_id",
        string="Supervisors",
        domain=lambda self: [("all_group_ids", "in", self.env.ref("openlines_connector.group_openlines_director").ids)],
        help="Directors who read this line's dialogs and reports. When empty, every director does.",
    )
