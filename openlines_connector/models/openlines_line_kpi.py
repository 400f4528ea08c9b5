from datetime import timedelta

from odoo import api, fields, models

#: line settings a running response-time deadline depends on
KPI_TIMING = {"kpi_first_response_limit", "kpi_next_response_limit", "kpi_working_hours_only", "resource_calendar_id"}


class OpenlinesLine(models.Model):
    """Response-time limits of a line, and who is told when they are missed."""

    _inherit = "openlines.line"

    kpi_first_response_limit = fields.Integer(
        "First answer within (minutes)",
        default=0,
        help="The client's first message must be answered within this many minutes; 0 = no limit.",
    )
    kpi_next_response_limit = fields.Integer(
        "Further answers within (minutes)",
        default=0,
        help="Every further client message must be answered within this many minutes; 0 = no limit.",
    )
    kpi_working_hours_only = fields.Boolean(
        "Count working hours only",
        help="Measure response times and limits in the line's working hours "
        "(when the line has a working-hours calendar); otherwise in calendar time.",
    )
    kpi_notify_user_ids = fields.Many2many(
        "res.users",
        "openlines_line_kpi_notify_user_rel",
        "line_id",
        "user_id",
        string="Tell when a limit is missed",
        domain=[("share", "=", False)],
        help="Users told once about every missed limit (e.g. the head of sales).",
    )
    kpi_notify_operator = fields.Boolean(
        "Tell the operator too", help="The dialog's operator is told as well as the users above."
    )
    kpi_notify_mode = fields.Selection(
        [("message", "Discuss message"), ("activity", "Activity"), ("both", "Message and activity")],
        string="Tell by",
        default="message",
        required=True,
        help="A Discuss message from OdooBot, a to-do activity on the dialog, or both.",
    )
    kpi_notify_text = fields.Text(
        "Alert text",
        translate=True,
        default=lambda self: self._kpi_default_notify_text(),
        help="The text of the alert. Placeholders: {client} the client's name, {line} this line, "
        "{channel} the messenger channel (or Site chat), {operator} the dialog's operator, "
        "{waited} how long the client has waited, {limit} the limit that was missed, "
        "{link} a link to the dialog.",
    )

    def write(self, vals):
        """A change of limits or working hours moves the deadlines of the dialogs waiting for an answer."""
        if not KPI_TIMING.intersection(vals):
            return super().write(vals)
        had_limit = {line.id: (line.kpi_first_response_limit, line.kpi_next_response_limit) for line in self}
        res = super().write(vals)
        self._kpi_move_deadlines(had_limit)
        return res

    def _kpi_move_deadlines(self, had_limit):
        """Recompute the running deadlines from when each wait began.

        A deadline already missed (alerted, so emptied) stays missed; a wait that
        had no limit gets one when its line now has a limit for it.
        """
        # sudo: openlines.dialog - an administrator's change applies to every dialog of the line
        waiting = (
            self.env["openlines.dialog"]
            .sudo()
            .search([("line_id", "in", self.ids), ("kpi_waiting_since", "!=", False), ("state", "!=", "closed")])
        )
        deadlines = []
        for dialog in waiting:
            first, further = had_limit[dialog.line_id.id]
            had = further if dialog.kpi_response_count else first
            if not dialog.kpi_deadline and had:
                continue  # missed already, under the old limit
            deadline = dialog._kpi_deadline_from(dialog.kpi_waiting_since)
            if deadline != dialog.kpi_deadline:
                dialog.kpi_deadline = deadline
            if deadline:
                deadlines.append(deadline)
        if deadlines:
            waiting._kpi_wake_cron(min(deadlines))

    @api.model
    def _kpi_default_notify_text(self):
        return self.env._(
            "{client} has been waiting {waited} for an answer on {line} ({channel}), "
            "operator: {operator}; the limit is {limit}.\n{link}"
        )

    def _kpi_calendar(self):
        """The working-hours calendar limits are counted in, or ``None`` for calendar time.

        Lines get ``resource_calendar_id`` from the working-hours feature; until it is
        installed, every figure is measured in calendar time.
        """
        self.ensure_one()
        if not self.kpi_working_hours_only or "resource_calendar_id" not in self._fields:
            return None
        return self.resource_calendar_id or None

    def _kpi_add_minutes(self, start, minutes):
        """When ``minutes`` of (working) time will have passed after ``start``."""
        calendar = self._kpi_calendar()
        if calendar:
            deadline = calendar.plan_hours(minutes / 60.0, start, compute_leaves=True)
            if deadline:
                return max(deadline, start + timedelta(minutes=minutes))
        return start + timedelta(minutes=minutes)

    def _kpi_duration(self, start, end):
        """Seconds of (working) time between ``start`` and ``end``."""
        if end <= start:
            return 0.0
        calendar = self._kpi_calendar()
        if calendar:
            return calendar.get_work_hours_count(start, end, compute_leaves=True) * 3600.0
        return (end - start).total_seconds()
