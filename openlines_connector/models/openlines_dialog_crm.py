import logging
from datetime import timedelta

import psycopg2.errors
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from ..tools import wake_cron

_logger = logging.getLogger(__name__)

#: dialogs whose lead the lead step files per commit (about 60 ms each): a batch holds its conversations
#: (their advisory locks) until it commits, and their new messages wait for it
LEAD_BATCH = 5
#: advisory lock class of a channel's lead count ("olld"): the leads filed under its rate limit are counted
#: and created one transaction at a time per channel
LEAD_LOCK = 0x6F6C6C64


class OpenlinesDialog(models.Model):
    """A dialog's lead: created by the line's rule or by hand, fed with the conversation."""

    _inherit = "openlines.dialog"

    lead_id = fields.Many2one(
        "crm.lead", string="Lead", index="btree_not_null", ondelete="set null", tracking=True, copy=False
    )
    lead_deferred = fields.Boolean(
        "Lead deferred",
        readonly=True,
        copy=False,
        help="The line's rule wants a lead, but its channel was flooded or over its rate of new leads when the "
        "dialog started: the client's next message creates it.",
    )
    lead_queued = fields.Boolean(
        "Lead queued",
        readonly=True,
        copy=False,
        help="A new messenger dialog whose lead the line's rule has still to file: done by its own step right "
        "after the client's first message is in Discuss, not in the client's path.",
    )
    _lead_queued_idx = models.Index("(id) WHERE lead_queued")

    # -- creation ------------------------------------------------------------
    def _on_new_dialogs(self):
        """A messenger client's new dialog: its lead is filed by the lead step (:meth:`_file_queued_leads`).

        Filing a lead (CRM's computes, stages, followers, chatter) costs more than
        the rest of the dialog; the client's first message reaches the operator
        without waiting for it: the processing cron files the queued leads once
        its queue is empty, and a cron of its own (woken here) lets another
        worker file them meanwhile.
        """
        res = super()._on_new_dialogs()
        queued = self.filtered(lambda d: d.line_id.lead_rule != "never" and not d.lead_id)
        # a flood's new clients get their lead when they write again, decided now: the lead step may come
        # after the flood mark is gone (sudo: openlines.channel - the flood state, whoever processes)
        flood = set(queued.sudo().channel_id.filtered("flood_since").ids)
        flooded = queued.filtered(lambda d: d.sudo().channel_id.id in flood)
        if flooded:
            flooded.lead_deferred = True
            queued -= flooded
        if queued:
            queued.lead_queued = True
            wake_cron(self.env, "openlines_connector.ir_cron_openlines_leads")
        return res

    @api.model
    def _file_queued_leads(self, limit=None):
        """File the leads of the queued new dialogs, :data:`LEAD_BATCH` per commit.

        With ``limit``, file at most that many (one commit) and return True when
        others may be queued: the processing cron's staying job files them
        between its claims, so that new messages do not wait for a whole
        backlog of leads. Without, file them all.

        Several workers can run it at once: each takes dialogs nobody else holds
        (``FOR UPDATE SKIP LOCKED``), and never the dialog of a conversation the
        processing cron is handling (its rows being processed, or its advisory
        lock taken): the two would write the same dialog row. A lead that meets
        another transaction (two workers creating the same UTM source) is tried
        again in a new transaction; one that fails otherwise is logged and not
        retried (the dialog's *Create lead* button is there), never blocking the others.
        """
        from .openlines_message import INBOUND_LOCK  # noqa: PLC0415 - the processing cron's lock class

        Cron = self.env["ir.cron"]
        while True:
            try:
                with self.env.cr.savepoint(flush=False):
                    rows = self.env.execute_query(
                        SQL(
                            """SELECT d.id FROM openlines_dialog d
                                 JOIN openlines_contact c ON c.id = d.contact_id
                                WHERE d.lead_queued
                                  AND NOT EXISTS (
                                      SELECT 1 FROM openlines_message m
                                       WHERE m.channel_id = c.channel_id AND m.conversation = c.external_id
                                         AND m.direction = 'in' AND m.state IN ('pending', 'retry')
                                         AND m.attempt_started IS NOT NULL)
                                  AND pg_try_advisory_xact_lock(%s, hashtext(c.channel_id || ':' || c.external_id))
                                ORDER BY d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED""",
                            INBOUND_LOCK,
                            min(limit or LEAD_BATCH, LEAD_BATCH),
                        )
                    )
            except psycopg2.errors.SerializationFailure:
                return False  # another worker has just filed some: it goes on
            if not rows:
                return False
            dialogs, done = self.browse([r[0] for r in rows]), 0
            # channel by channel: their lead-count locks (_lead_over_rate) are always taken in the same order
            for dialog in dialogs.sorted(lambda d: (d.channel_id.id, d.id)):
                try:
                    with self.env.cr.savepoint():
                        dialog._apply_lead_rule()
                except (
                    psycopg2.errors.SerializationFailure,
                    psycopg2.errors.UniqueViolation,
                    psycopg2.errors.DeadlockDetected,
                ):
                    _logger.info("Open Lines: the lead of dialog %s met another transaction: again", dialog.id)
                    break  # this one and the rest stay queued: a new transaction sees what the other wrote
                except Exception:  # noqa: BLE001 - one dialog's lead never blocks the others'
                    _logger.exception("Open Lines: the lead of dialog %s could not be filed", dialog.id)
                dialog.lead_queued = False
                done += 1
            if not done:  # met another transaction at once: run again shortly, on a fresh snapshot
                wake_cron(self.env, "openlines_connector.ir_cron_openlines_leads")
                Cron._commit_progress(0)
                return False
            if not Cron._commit_progress(done) or limit:
                return bool(limit) and len(rows) == min(limit, LEAD_BATCH)

    @api.model
    def _cron_file_leads(self):
        self._file_queued_leads()

    @api.model
    def _create_for_site_sessions(self, discuss_channels):
        dialogs = super()._create_for_site_sessions(discuss_channels)
        # anonymous site visitors (and employees trying the widget) get a lead by hand only
        dialogs.filtered(lambda d: d.partner_id.partner_share)._apply_lead_rule()
        return dialogs

    # -- life cycle ----------------------------------------------------------
    def _mark_closed(self):
        closing = self.filtered(lambda d: d.state != "closed" and d.lead_id)
        res = super()._mark_closed()
        for dialog in closing:
            dialog._post_transcript_to_lead()
        return res

    def _take_as(self, user):
        res = super()._take_as(user)
        # sudo: crm.lead - the operator who takes the dialog becomes the salesperson of its fresh lead
        lead = self.lead_id.sudo()
        if lead and not lead.user_id:
            lead.user_id = user
        return res

    def _on_client_message(self):
        res = super()._on_client_message()
        self.filtered("lead_deferred")._apply_lead_rule()
        return res

    # -- actions -------------------------------------------------------------
    def action_create_lead(self):
        """Create the dialog's lead by hand (whatever the line's rule), and open it."""
        self.ensure_one()
        self.check_access("write")
        if self.lead_id:
            raise UserError(self.env._("This dialog already has a lead."))
        lead = self.sudo()._create_lead().with_env(self.env)  # sudo: the lead is the addon's field
        # an operator without Sales rights files the lead for the sales team, without opening it
        return self.action_view_lead() if lead.has_access("read") else True

    def action_view_lead(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "crm.lead",
            "res_id": self.lead_id.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    # -- business ------------------------------------------------------------
    def _apply_lead_rule(self):
        """Give new dialogs their lead as their line says: always, if none is open, or never.

        A messenger's flood is bounded in CRM: while the dialog's channel is
        flooded (``flood_since``) or has filed ``lead_rate_limit`` leads in the
        last minute, the lead is deferred to the client's next message -- a
        client who writes again has shown they are real.
        """
        for dialog in self:
            rule = dialog.line_id.lead_rule
            if dialog.lead_id or rule == "never" or dialog._lead_over_rate():
                deferred = not dialog.lead_id and rule != "never"
                if dialog.lead_deferred != deferred:
                    dialog.lead_deferred = deferred
                continue
            if dialog.lead_deferred:
                dialog.lead_deferred = False
            lead = dialog._find_open_lead() if rule == "no_open_lead" else False
            if lead:
                dialog.lead_id = lead
                dialog._post_link_on_lead(self.env._("The client started a new dialog"))
            else:
                dialog._create_lead()

    def _lead_over_rate(self):
        """Is this messenger dialog's channel flooded, or over its line's rate of new leads per minute?"""
        self.ensure_one()
        # sudo: openlines.channel - the flood state of the dialog's channel, whoever processes the message
        channel = self.sudo().channel_id
        if not channel:
            return False
        if channel.flood_since:
            return True
        rate = self.line_id.lead_rate_limit
        if not rate:
            return False
        # several workers file leads at once: each waits for the others' uncommitted leads of this channel,
        # so that the count below includes them (else two could each see room for one more)
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", LEAD_LOCK, channel.id))
        since = fields.Datetime.now() - timedelta(minutes=1)
        # sudo: the leads of the channel's dialogs, counted whoever processes the message
        recent = (
            self.sudo()
            .with_context(active_test=False)
            .search_count([("channel_id", "=", channel.id), ("lead_id.create_date", ">=", since)], limit=rate)
        )
        return recent >= rate

    def _adopt_lead(self, lead):
        """Make ``lead``, filed by the chatbot or the ``/lead`` command, the dialog's lead.

        crm_livechat links such a lead to the session (``origin_channel_id``),
        which lets every salesperson read the session: an Open Lines session
        stays readable by its operators only, so the link is the dialog's.
        """
        if not self or not lead:
            return
        self.ensure_one()
        # sudo: crm.lead - unlinking the session keeps other operators' dialogs private
        if "origin_channel_id" in lead._fields:  # crm_livechat, installed with crm and im_livechat
            lead.sudo().origin_channel_id = False
        if not self.lead_id:
            self.lead_id = lead
            self._post_link_on_lead(self.env._("Lead created from the dialog"))

    def _find_open_lead(self):
        """The client's latest lead that is neither won, lost nor archived."""
        self.ensure_one()
        if not self.partner_id:
            return self.env["crm.lead"]
        partner = self.partner_id.commercial_partner_id
        domain = Domain("partner_id", "child_of", partner.id) & Domain("won_status", "=", "pending")
        # sudo: crm.lead - the rule looks at every lead of the client, whoever processes the message
        return self.env["crm.lead"].sudo().search(domain, order="id desc", limit=1)

    def _create_lead(self):
        self.ensure_one()
        # sudo: the lead's values come from the line and channel settings, which an operator may not read
        values = self.sudo()._prepare_lead_values()
        # sudo: crm.lead - leads are filed for the dialog's operator, who may have no Sales rights
        # no generic "created" log (the note below says where the lead comes from), and no
        # "assigned to you" e-mail: the salesperson is the operator, already in the conversation
        Lead = self.env["crm.lead"].sudo().with_context(mail_create_nolog=True, mail_auto_subscribe_no_notify=True)
        lead = Lead.create(values)
        self.lead_id = lead
        self._post_link_on_lead(self.env._("Lead created from the dialog"))
        return lead

    def _prepare_lead_values(self):
        self.ensure_one()
        source_name = self.channel_id.name or self.line_id.name
        return {
            "name": self.env._("%(client)s: %(origin)s", client=self.name, origin=source_name),
            "partner_id": self.partner_id.id,
            "contact_name": False if self.partner_id else self.name,
            "team_id": self.line_id.team_id.id,
            "user_id": self.operator_id.id,
            "company_id": self.line_id.company_id.id,
            "source_id": self._utm_record("utm.source", source_name).id,
            "medium_id": self._utm_record("utm.medium", self._medium_name()).id,
        }

    def _medium_name(self):
        if self.channel_id:
            return self.channel_id._messenger_label()
        return self.env.ref("utm.utm_medium_website", raise_if_not_found=False).name or "Website"

    def _utm_record(self, model_name, name):
        # sudo: utm - the source and medium are shared reference data, found or made on the fly
        return self.env["utm.mixin"].sudo()._find_or_create_record(model_name, name)

    def _dialog_link(self):
        self.ensure_one()
        return Markup('<a href="/odoo/openlines.dialog/%s">%s</a>') % (self.id, self.name)

    def _post_link_on_lead(self, title):
        """Tell the lead's chatter which dialog (and from where) belongs to it."""
        for dialog in self:
            # sudo: openlines.channel - the channel's name, for an operator who may not read channels
            source = dialog.sudo().channel_id.display_name or dialog.sudo().line_id.name
            body = Markup("%s: %s (%s)") % (title, dialog._dialog_link(), source)
            # sudo: crm.lead - the dialog's notes reach its lead whoever handles the dialog
            dialog.lead_id.sudo().message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")

    def _post_transcript_to_lead(self):
        """Post the closed dialog's conversation in its lead's chatter."""
        self.ensure_one()
        body = self._lead_transcript()  # a link and the text: no public copy of the client's files
        # sudo: crm.lead - the conversation goes to the lead whoever closes the dialog
        self.lead_id.sudo().message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")
