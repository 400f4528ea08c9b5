from odoo import fields, models
from odoo.tools import SQL

from ..models.openlines_dialog import DIALOG_STATES


class OpenlinesReportDialog(models.Model):
    """Open Lines analysis: one row per dialog, its response-time figures in minutes.

    A view over ``openlines_dialog`` (no copy, no refresh): every figure is the
    one stored on the dialog. Times of dialogs nobody answered yet are NULL, so
    averages and medians count answered dialogs only. ``median`` is an extra
    aggregate of this model (PostgreSQL ``percentile_cont``).
    """

    _name = "openlines.report.dialog"
    _description = "Open Lines analysis"
    _auto = False
    _order = "start_date desc"
    _rec_name = "dialog_id"

    dialog_id = fields.Many2one("openlines.dialog", string="Dialog", readonly=True)
    start_date = fields.Datetime("Started", readonly=True)
    company_id = fields.Many2one("res.company", string="Company", readonly=True)
    line_id = fields.Many2one("openlines.line", string="Open Line", readonly=True)
    channel_id = fields.Many2one("openlines.channel", string="Channel", readonly=True)
    source = fields.Selection(selection=lambda self: self.env["openlines.dialog"]._selection_source(), readonly=True)
    operator_id = fields.Many2one("res.users", string="Operator", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Client", readonly=True)
    first_answer_partner_id = fields.Many2one("res.partner", string="First answered by", readonly=True)
    state = fields.Selection(DIALOG_STATES, string="Status", readonly=True)
    is_late = fields.Boolean("Late", readonly=True)
    nbr_dialogs = fields.Integer("Dialogs", readonly=True, aggregator="sum")
    nbr_late = fields.Integer("Late dialogs", readonly=True, aggregator="sum")
    nbr_limits_missed = fields.Integer("Limits missed", readonly=True, aggregator="sum")
    in_time_rate = fields.Float(
        "Answered in time (%)",
        readonly=True,
        aggregator="avg",
        help="Share of dialogs with a client message where no response-time limit was missed.",
    )
    first_response = fields.Float("First response (min)", readonly=True, aggregator="avg")
    first_response_median = fields.Float("Median first response (min)", readonly=True, aggregator="median")
    avg_response = fields.Float("Average response (min)", readonly=True, aggregator="avg")
    max_response = fields.Float("Longest response (min)", readonly=True, aggregator="max")
    nbr_client_messages = fields.Integer("Client messages", readonly=True, aggregator="sum")
    nbr_answers = fields.Integer("Answers", readonly=True, aggregator="sum")
    bot_time = fields.Float(
        "Time with the chatbot (min)",
        readonly=True,
        aggregator="avg",
        help="Minutes the client spent with the line's chatbot before the hand-over to the operators (dialogs a "
        "chatbot talked in); the first response is counted from the hand-over.",
    )
    # the client's rating (issue 16): average over rated dialogs, how many rated, and a choice to group by
    rating = fields.Float("Rating (average)", readonly=True, aggregator="avg", digits=(16, 2))
    nbr_rated = fields.Integer("Rated dialogs", readonly=True, aggregator="sum")
    rating_stars = fields.Selection(
        selection=lambda self: self.env["openlines.dialog"]._fields["rating_stars"].selection,
        string="Rating",
        readonly=True,
    )

    @property
    def _table_query(self):
        return SQL(
            """SELECT d.id, d.id AS dialog_id, d.create_date AS start_date, d.company_id, d.line_id, d.channel_id,
                      d.source,
                      d.operator_id, d.partner_id, d.kpi_first_answer_partner_id AS first_answer_partner_id,
                      d.state, COALESCE(d.is_late, FALSE) AS is_late, 1 AS nbr_dialogs,
                      CASE WHEN d.is_late THEN 1 ELSE 0 END AS nbr_late,
                      COALESCE(d.kpi_late_count, 0) AS nbr_limits_missed,
                      CASE WHEN d.kpi_client_message_count > 0 THEN
                           CASE WHEN d.is_late THEN 0.0 ELSE 100.0 END END AS in_time_rate,
                      CASE WHEN d.kpi_response_count > 0 THEN d.first_response_time / 60.0 END AS first_response,
                      CASE WHEN d.kpi_response_count > 0 THEN d.first_response_time / 60.0 END
                          AS first_response_median,
                      CASE WHEN d.kpi_response_count > 0 THEN d.avg_response_time / 60.0 END AS avg_response,
                      CASE WHEN d.kpi_response_count > 0 THEN d.max_response_time / 60.0 END AS max_response,
                      d.kpi_client_message_count AS nbr_client_messages, d.kpi_answer_count AS nbr_answers,
                      CASE WHEN d.bot_time > 0 THEN d.bot_time / 60.0 END AS bot_time,
                      CASE WHEN d.rating_value BETWEEN 1 AND 5 THEN d.rating_value END AS rating,
                      CASE WHEN d.rating_value BETWEEN 1 AND 5 THEN 1 ELSE 0 END AS nbr_rated, d.rating_stars
                 FROM openlines_dialog d"""
        )

    def _read_group_select(self, aggregate_spec, query):
        fname, _sep, func = aggregate_spec.partition(":")
        if func == "median" and fname in self._fields:
            return SQL("PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY %s)", self._field_to_sql(self._table, fname, query))
        return super()._read_group_select(aggregate_spec, query)
