from datetime import UTC, timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .openlines_guard import MANAGER

#: dialog states that hold an operator's attention
OPEN_STATES = ("assigned", "answered")


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
    _check_company_auto = True

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
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
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

    operator_ids = fields.One2many(
        "openlines.line.operator",
        "line_id",
        string="Operators in order",
        help="Who answers this line, in order: used by the distribution and, for 'Strictly in order', its order.",
    )
    distribution_mode = fields.Selection(
        [("evenly", "Evenly"), ("strict", "Strictly in order"), ("all", "To all at once")],
        default="evenly",
        required=True,
        help="Evenly: the available operator with the fewest open dialogs (ties: who waited longest). "
        "Strictly in order: the first available operator of the list. "
        "To all at once: every available operator is offered the dialog; the first to take it gets it.",
    )
    max_dialogs_per_operator = fields.Integer(
        "Limit per operator",
        default=0,
        help="An operator with this many open dialogs of the line gets no new one (0: no limit).",
    )
    answer_timeout = fields.Integer(
        "Pass to the next after (minutes)",
        default=0,
        help="When the assigned operator has not answered within this time (1 minute to 12 hours), "
        "the dialog goes to the next available operator. 0: never.",
    )
    resource_calendar_id = fields.Many2one(
        "resource.calendar",
        string="Working hours",
        check_company=True,
        help="Operators get dialogs only within these hours (and the calendar's holidays). Empty: always.",
    )
    queue_message = fields.Text(
        "Queue message",
        translate=True,
        default=lambda self: self.env._(
            "All our operators are busy right now. You are number {position} in the queue: we will answer soon."
        ),
        help="Sent to the client when nobody is available. {position} is their place in the queue. Empty: no message.",
    )
    auto_close_hours = fields.Integer(
        "Close after client silence (hours)",
        default=0,
        help="A dialog with no client message for this many hours closes itself. 0: never.",
    )
    close_message = fields.Text(
        "Closing message",
        translate=True,
        help="Sent to the client when a dialog closes (by an operator or by itself). Empty: no message.",
    )

    welcome_message = fields.Text(
        "Welcome message",
        translate=True,
        help="Sent to a client who starts a new dialog from a messenger. Empty: no message.",
    )
    off_hours_message = fields.Text(
        "Off-hours message",
        translate=True,
        default=lambda self: self.env._("We are closed now: we will answer as soon as we open."),
        help="Sent to a client who writes outside the working hours. Empty: no message.",
    )
    unavailable_message = fields.Text(
        "Not available text",
        translate=True,
        default=lambda self: self.env._("Sorry, we no longer answer here."),
        help="Sent to a client who writes to a channel of this line once the line is archived (unless the line "
        "sends its off-hours dialogs to another line, which then takes them). Empty: the off-hours message.",
    )
    off_hours_action = fields.Selection(
        [("queue", "Keep in the queue"), ("line", "Send to another line")],
        string="Off hours",
        default="queue",
        required=True,
        help="What happens to a dialog that starts outside the working hours.",
    )
    off_hours_line_id = fields.Many2one(
        "openlines.line",
        string="Off-hours line",
        check_company=True,
        help="The line that takes dialogs started off hours.",
    )
    client_lang_id = fields.Many2one(
        "res.lang",
        string="Language for clients",
        help="Language of the texts sent to clients (welcome, queue, off hours, closing) and of the transcript. "
        "Empty: the company's language.",
    )
    consent_required = fields.Boolean(
        "Ask for consent",
        help="Before anything else the client must accept the agreement on personal data; what they write before "
        "is kept and reaches operators and CRM only once they accept.",
    )
    consent_text = fields.Text(
        "Agreement",
        translate=True,
        default=lambda self: self.env._(
            "Before we answer, please agree to the processing of your personal data under our privacy policy. "
            'Reply "yes" to agree or "no" to decline.'
        ),
    )
    consent_version = fields.Integer(
        "Agreement version", default=1, readonly=True, help="Goes up by one each time the agreement text changes."
    )
    consent_decline_message = fields.Text(
        "Answer to a refusal",
        translate=True,
        default=lambda self: self.env._(
            'We understand. Without your consent we cannot process your request; write "yes" whenever you change '
            "your mind."
        ),
    )
    rating_request = fields.Boolean(
        "Ask for a rating",
        help="When a dialog closes, the client is asked to rate it: in a messenger by buttons 1 to 5 (or a reply "
        "1-5, 👍 or 👎), on the site by the widget's rating form, which is not shown otherwise; the rating goes to "
        "Odoo's live-chat ratings.",
    )
    rating_message = fields.Text(
        "Rating request",
        translate=True,
        default=lambda self: self.env._("Please rate our answers: from 1 (bad) to 5 (excellent)."),
    )
    close_confirmation = fields.Boolean(
        "Confirm before closing",
        default=True,
        help="Operators confirm before they close a dialog, from its form or in Discuss.",
    )
    send_transcript = fields.Boolean(
        "E-mail the transcript",
        help="When a dialog closes, its transcript is e-mailed to the client when their e-mail is known.",
    )
    delete_chat = fields.Boolean(
        "Delete the chat with the dialog",
        help="Deleting a dialog also deletes its Discuss conversation and messages. Otherwise the history stays.",
    )

    @api.constrains("off_hours_action", "off_hours_line_id")
    def _check_off_hours_line(self):
        for line in self:
            if line.off_hours_action == "line" and (not line.off_hours_line_id or line.off_hours_line_id == line):
                raise ValidationError(self.env._("Choose another line to take the dialogs started off hours."))

    @api.constrains("answer_timeout", "max_dialogs_per_operator", "auto_close_hours")
    def _check_routing_limits(self):
        for line in self:
            if line.answer_timeout and not 1 <= line.answer_timeout <= 720:
                raise ValidationError(self.env._("The answer timeout goes from 1 minute to 12 hours (720 minutes)."))
            if line.max_dialogs_per_operator < 0 or line.auto_close_hours < 0:
                raise ValidationError(self.env._("Limits cannot be negative."))

    def _client_text(self, field):
        """A client-facing text of the line, in the line's language for clients."""
        self.ensure_one()
        lang = self.client_lang_id.code or self.company_id.partner_id.lang or self.env.lang
        return self.with_context(lang=lang)[field] or ""

    def write(self, vals):
        moving = self.filtered(lambda line: "company_id" in vals and line.company_id.id != vals["company_id"])
        if moving.sudo().dialog_ids:  # sudo: openlines.dialog - any dialog, whoever may read it
            raise UserError(self.env._("A line with dialogs cannot move to another company: create a new line there."))
        if "consent_text" in vals:
            for line in self:
                super(OpenlinesLine, line).write({"consent_version": line.consent_version + 1})
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines._sync_operators_from_agents()
        return lines

    def _sync_agents(self):
        """The live-chat agents (site widget) are the line's ordered operators."""
        for line in self.filtered("operator_ids"):
            if line.user_ids != line.operator_ids.user_id:
                line.with_context(openlines_syncing_agents=True).user_ids = line.operator_ids.user_id

    def _sync_operators_from_agents(self):
        """The agents were set on the live-chat channel (``user_ids``): the ordered list follows.

        New agents go to the end of the list, removed ones leave it. When im_livechat itself
        takes a user off every live-chat channel because he lost a Live Chat group
        (``openlines_group_change``), an active Open Lines operator stays on his lines: the line's
        operators need no Live Chat group.
        """
        Operator = self.env["openlines.line.operator"].sudo()  # sudo: the rows mirror the agents just written
        for line in self.sudo():
            listed = line.operator_ids.user_id
            agents = line.user_ids
            if self.env.context.get("openlines_group_change"):
                kept = (listed - agents).filtered(lambda u: u.active and u.has_group(MANAGER))
                if kept:
                    line.with_context(openlines_syncing_agents=True).user_ids |= kept
                    agents |= kept
            gone = line.operator_ids.filtered(lambda o, agents=agents: o.user_id not in agents)
            if gone:
                gone.with_context(openlines_syncing_agents=True).unlink()
            new = agents - listed
            if new:
                start = max(line.operator_ids.mapped("sequence"), default=0) + 1
                Operator.with_context(openlines_syncing_agents=True).create(
                    [
                        {"line_id": line.id, "user_id": user.id, "sequence": start + i}
                        for i, user in enumerate(new.sorted("id"))
                    ]
                )

    def _widget_open(self):
        """The site widget is offered: the line is active and has operators."""
        self.ensure_one()
        return bool(self.active and self._candidates())

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
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("line_id", "=", self.id)]
        action["context"] = {"default_line_id": self.id}
        return action

    def action_view_channels(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_channel_action")
        action["domain"] = [("line_id", "=", self.id)]
        action["context"] = {"default_line_id": self.id}
        return action

    # -- routing -------------------------------------------------------------
    def _candidates(self):
        """The line's operators, in the line's order."""
        self.ensure_one()
        return self.operator_ids.user_id if self.operator_ids else self.user_ids.sorted("id")

    def _is_working_time(self, now=None):
        self.ensure_one()
        if not self.resource_calendar_id:
            return True
        now = now or fields.Datetime.now()
        start = now.replace(tzinfo=UTC)
        intervals = self.resource_calendar_id._work_intervals_batch(start, start + timedelta(minutes=1))[False]
        return bool(list(intervals))

    def _open_dialog_counts(self, users):
        picks = self.env.context.get("openlines_picks")  # a batch of picks: openlines.dialog._create_for_contacts
        key = ("counts", self.id, tuple(users.ids))
        if picks is not None and key in picks["cache"]:
            counts = dict(picks["cache"][key])
        else:
            groups = self.env["openlines.dialog"]._read_group(
                [("line_id", "=", self.id), ("state", "in", OPEN_STATES), ("operator_id", "in", users.ids)],
                ["operator_id"],
                ["__count", "date_assigned:max"],
            )
            counts = {user: (count, last) for user, count, last in groups}
            if picks is not None:
                picks["cache"][key] = dict(counts)
        # the batch's picks are not created yet: count them, as just assigned
        for user in users.filtered(lambda u: u.id in (picks or {}).get("picked", {})):
            count, _last = counts.get(user, (0, None))
            counts[user] = (count + picks["picked"][user.id], fields.Datetime.now())
        return counts

    def _users_on_leave(self, users, now):
        """Users whose own calendar has a time off now."""
        leaves = (
            self.env["resource.calendar.leaves"]
            .sudo()
            .search(
                [
                    ("resource_id.user_id", "in", users.ids),
                    ("date_from", "<=", now),
                    ("date_to", ">=", now),
                ]
            )
        )
        return leaves.resource_id.user_id

    def _available_operators(self, exclude=None):
        """Operators who may get a dialog now, in the line's order.

        Active, online in Discuss, within the line's working hours, not on
        leave, and under the line's limit of open dialogs per operator.
        """
        self.ensure_one()
        picks = self.env.context.get("openlines_picks")  # a batch of picks: who is online does not change
        key = ("online", self.id, tuple(exclude.ids) if exclude else ())
        if picks is not None and key in picks["cache"]:
            users = picks["cache"][key]
        else:
            users = self._online_operators(exclude)
            if picks is not None:
                picks["cache"][key] = users
        if self.max_dialogs_per_operator and users:
            counts = self._open_dialog_counts(users)
            users = users.filtered(lambda u: counts.get(u, (0, None))[0] < self.max_dialogs_per_operator)
        return users

    def _online_operators(self, exclude=None):
        """The line's operators who are active, online, within the working hours and not on leave."""
        if not self.active:  # an archived line takes nothing in
            return self.env["res.users"]
        now = fields.Datetime.now()
        users = self._candidates().filtered(lambda u: u.active and not u.share)
        if exclude:
            users -= exclude
        if not users or not self._is_working_time(now):
            return self.env["res.users"]
        # sudo: mail.presence - routing reads operators' presence
        online = (
            self.env["mail.presence"].sudo().search([("user_id", "in", users.ids), ("status", "=", "online")]).user_id
        )
        return users.filtered(lambda u: u in online) - self._users_on_leave(users, now)

    def _pick_operator(self, exclude=None):
        """Return the operator a dialog goes to now, or an empty recordset.

        For "to all at once" nobody is picked: the dialog is offered to every
        available operator (:meth:`_available_operators`).
        """
        self.ensure_one()
        available = self._available_operators(exclude)
        if not available or self.distribution_mode == "all":
            return self.env["res.users"]
        if self.distribution_mode == "strict":
            return available[0]
        counts = self._open_dialog_counts(available)
        oldest = fields.Datetime.to_datetime("1970-01-01")
        return min(available, key=lambda u: (counts.get(u, (0, None))[0], counts.get(u, (0, None))[1] or oldest))
