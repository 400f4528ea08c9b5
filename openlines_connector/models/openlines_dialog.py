from datetime import timedelta

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from ..tools import PREFETCH_KEY
from .openlines_guard import ADMIN, DIRECTOR, MANAGER, check_system_fields, fill_company, mail_fields

DIALOG_STATES = [
    ("queued", "Queued"),
    ("bot", "Chatbot"),
    ("assigned", "Waiting for answer"),
    ("answered", "Answered"),
    ("closed", "Closed"),
]


class OpenlinesDialog(models.Model):
    """One conversation with a client, lived in a Discuss live-chat session.

    Messenger dialogs are created by the inbound processing
    (:meth:`_get_or_create_for_contact`); site-chat dialogs are created when
    im_livechat opens a session on the line's live-chat channel.
    """

    _name = "openlines.dialog"
    _description = "Open Lines dialog"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(required=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True, default=lambda self: self.env.company
    )
    line_id = fields.Many2one(
        "openlines.line", string="Open Line", required=True, index=True, ondelete="restrict", check_company=True
    )
    channel_id = fields.Many2one(
        "openlines.channel",
        string="Channel",
        index="btree_not_null",
        ondelete="restrict",
        check_company=True,
        help="The messenger channel the client writes from; empty for the site's chat widget.",
    )
    source = fields.Selection(
        selection="_selection_source",
        compute="_compute_source",
        store=True,
        string="Source",
        help="Where the client writes from: a messenger or the chat widget on the site.",
    )
    contact_id = fields.Many2one(
        "openlines.contact", string="Client contact", index="btree_not_null", ondelete="restrict", check_company=True
    )
    partner_id = fields.Many2one("res.partner", string="Client", index="btree_not_null", tracking=True)
    discuss_channel_id = fields.Many2one(
        "discuss.channel", string="Discuss conversation", required=True, ondelete="cascade", index=True, copy=False
    )
    operator_id = fields.Many2one("res.users", string="Operator", index="btree_not_null", tracking=True)
    state = fields.Selection(DIALOG_STATES, default="queued", required=True, index=True, tracking=True)
    date_last_client = fields.Datetime("Last client message", readonly=True)
    date_last_answer = fields.Datetime("Last answer", readonly=True)
    date_closed = fields.Datetime("Closed on", readonly=True)
    consent_date = fields.Datetime(related="contact_id.consent_date", string="Consent given on")
    close_confirmation = fields.Boolean(related="line_id.close_confirmation")
    message_log_ids = fields.One2many("openlines.message", "dialog_id", string="Message log")
    failed_message_count = fields.Integer(compute="_compute_failed_message_count", string="Undelivered messages")

    _discuss_channel_uniq = models.UniqueIndex("(discuss_channel_id)")
    _open_per_contact_uniq = models.UniqueIndex(
        "(contact_id) WHERE state != 'closed' AND contact_id IS NOT NULL",
        "A client has only one open dialog per channel.",
    )

    @api.model
    def _selection_source(self):
        channel_types = self.env["openlines.channel"]._fields["channel_type"]._description_selection(self.env)
        return [("site", self.env._("Site chat"))] + list(channel_types)

    @api.depends("channel_id.channel_type")
    def _compute_source(self):
        for dialog in self:
            dialog.source = dialog.channel_id.channel_type or "site"

    @api.constrains("line_id", "channel_id", "contact_id", "partner_id", "discuss_channel_id")
    def _check_conversation(self):
        """A dialog's client, channel, session and line belong together."""
        for dialog in self.sudo():  # sudo: the check reads the records the dialog points to, whoever wrote it
            contact, session = dialog.contact_id, dialog.discuss_channel_id
            if contact and (contact.channel_id != dialog.channel_id or contact.partner_id != dialog.partner_id):
                raise ValidationError(self.env._("A dialog's channel and client are those of its contact."))
            if bool(contact) != bool(dialog.channel_id):
                raise ValidationError(self.env._("A messenger dialog has both a channel and a contact."))
            if session.openlines_dialog_id and session.openlines_dialog_id != dialog:
                raise ValidationError(self.env._("This Discuss conversation belongs to another dialog."))
            if session.channel_type != "livechat" or session.livechat_channel_id != dialog.line_id.livechat_channel_id:
                raise ValidationError(self.env._("A dialog's conversation is a live-chat session of its line."))

    def _compute_failed_message_count(self):
        counts = dict(
            self.env["openlines.message"]._read_group(
                [("dialog_id", "in", self.ids), ("state", "=", "failed")], ["dialog_id"], ["__count"]
            )
        )
        for dialog in self:
            dialog.failed_message_count = counts.get(dialog, 0)

    # -- CRUD ----------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        return super().create(fill_company(self.env, vals_list, "line_id", "openlines.line"))

    def write(self, vals):
        check_system_fields(self, vals, {"name"} | mail_fields(self.env))
        return super().write(vals)

    # -- creation ------------------------------------------------------------
    @api.model
    def _get_or_create_for_contact(self, contact):
        """Return the dialog a new message of ``contact`` belongs to.

        The open dialog of the contact; else the last one, reopened, when it was
        closed less than ``line.reopen_hours`` ago; else a new dialog.
        """
        hint = self.env.cr.cache.get(PREFETCH_KEY)  # a batch's last dialogs, see openlines.message
        if hint and contact.id in hint["dialogs"]:
            last = self.browse(hint["dialogs"][contact.id]).with_prefetch(tuple(hint["dialogs"].values()))
        elif hint and contact.id in hint["no_dialog"]:
            last = self.browse()  # a contact of the batch known to have no dialog yet
        else:
            # search_fetch: the dialog's fields come with the search, in one query
            last = self.search_fetch([("contact_id", "=", contact.id)], None, order="id desc", limit=1)
        reopen_after = fields.Datetime.now() - timedelta(hours=contact.channel_id.line_id.reopen_hours)
        if last and last.state != "closed":
            dialog = last
        elif last and last.date_closed and last.date_closed > reopen_after:
            last.with_context(openlines_client_reopen=True)._reopen()  # the client came back (chatbot, archived line)
            dialog = last
        else:
            dialog = self._create_for_contact(contact)
        if hint is not None:
            hint["dialogs"][contact.id] = dialog.id
        return dialog

    @api.model
    def _create_for_contact(self, contact):
        channel = contact.channel_id
        line = channel.line_id
        operator = line._pick_operator()
        discuss_channel = self._new_discuss_channel(
            line, contact.partner_id, operator, f"{contact.name} · {channel.name}"
        )
        dialog = self.create(self._new_dialog_vals(contact, operator, discuss_channel))
        discuss_channel.openlines_dialog_id = dialog
        dialog._on_new_dialogs()
        return dialog

    @api.model
    def _create_for_contacts(self, contacts):
        """New dialogs of several new clients at once (the processing cron's batch, ``openlines.message``).

        What :meth:`_create_for_contact` does for one, with one ``create`` of the sessions (their members and
        im_livechat's histories) and one of the dialogs for all: a new dialog costs about half. The operators
        are picked one after the other, each pick counting the dialogs picked before it (as if created); who
        is online, and the open dialogs before the batch, are read once per line (``openlines.line``).
        Lines with a chatbot go through :meth:`_create_for_contact` (the bot's session is its own).
        """
        picks, operators, vals_list = {"picked": {}, "cache": {}}, [], []
        for contact in contacts:
            line = contact.channel_id.line_id
            operator = line.with_context(openlines_picks=picks)._pick_operator()
            if operator:
                picks["picked"][operator.id] = picks["picked"].get(operator.id, 0) + 1
            operators.append(operator)
            name = f"{contact.name} · {contact.channel_id.name}"
            vals_list.append(self._session_vals(line, contact.partner_id, operator, name))
        sessions = self._create_sessions(vals_list)
        dialogs = self.create(
            [
                self._new_dialog_vals(contact, operator, session)
                for contact, operator, session in zip(contacts, operators, sessions, strict=True)
            ]
        )
        for session, dialog in zip(sessions, dialogs, strict=True):
            session.openlines_dialog_id = dialog
        dialogs._on_new_dialogs()
        return dialogs

    def _on_new_dialogs(self):
        """Hook: these messenger dialogs were just created (routing starts their clock, CRM queues their lead)."""

    @api.model
    def _new_dialog_vals(self, contact, operator, session):
        return {
            "name": contact.name,
            "company_id": contact.company_id.id,
            "line_id": contact.channel_id.line_id.id,
            "channel_id": contact.channel_id.id,
            "contact_id": contact.id,
            "partner_id": contact.partner_id.id,
            "discuss_channel_id": session.id,
            "operator_id": operator.id,
            "state": "assigned" if operator else "queued",
        }

    @api.model
    def _new_discuss_channel(self, line, partner, operator, name):
        """Create the live-chat session of a messenger dialog, with im_livechat's helpers."""
        return self._create_sessions([self._session_vals(line, partner, operator, name)])

    @api.model
    def _session_vals(self, line, partner, operator, name):
        """The values of a messenger dialog's live-chat session, with im_livechat's helpers."""
        livechat_channel = line.livechat_channel_id
        now = fields.Datetime.now()
        last_interest_dt = now - timedelta(seconds=1)
        members = [Command.create({"partner_id": partner.id, "livechat_member_type": "visitor"})]
        if operator:
            members.append(
                Command.create(
                    livechat_channel._get_agent_member_vals(
                        last_interest_dt=last_interest_dt,
                        now=now,
                        chatbot_script=self.env["chatbot.script"],
                        operator_partner=operator.partner_id,
                        operator_model="res.users",
                    )
                )
            )
        # a queued session still needs an operator partner: OdooBot holds it until someone takes it
        operator_partner = operator.partner_id or self.env.ref("base.partner_root")
        members += self._creator_member(partner | operator.partner_id)
        return {
            "channel_member_ids": members,
            "last_interest_dt": last_interest_dt,
            "livechat_operator_id": operator_partner.id,
            "livechat_channel_id": livechat_channel.id,
            "livechat_failure": "no_answer" if operator else "no_agent",
            "livechat_status": "in_progress" if operator else "need_help",
            "channel_type": "livechat",
            "name": name,
        }

    @api.model
    def _create_sessions(self, vals_list):
        """Create live-chat sessions from :meth:`_session_vals` (see :meth:`_creator_member` for the context)."""
        # sudo: discuss.channel - the session is created by the inbound processing, not by a user
        return (
            self.env["discuss.channel"]
            .sudo()
            .with_context(openlines_skip_dialog=True, install_mode=True)
            .create(vals_list)
            .with_context(install_mode=None)
        )

    @api.model
    def _creator_member(self, members):
        """The member Discuss adds for the user creating a session (OdooBot in the processing cron), given
        in the creation itself, as an agent (what im_livechat makes of it afterwards).

        The session is created with ``install_mode``, the only switch of ``discuss.channel.create`` that
        skips both that member and the push of the whole new session to the creator's bus (a Store of
        every member, ~15 ms per session): the creator is the cron, no browser listens as it. The
        operators are told by the client's message, posted in the same transaction.
        """
        user = self.env.user
        if user._is_public() or user.partner_id in members:
            return []
        return [Command.create({"partner_id": user.partner_id.id, "livechat_member_type": "agent"})]

    @api.model
    def _create_for_site_sessions(self, discuss_channels):
        """Give every live-chat session opened on a line's widget its dialog."""
        lines = (
            self.env["openlines.line"]
            .sudo()
            .with_context(active_test=False)
            .search([("livechat_channel_id", "in", discuss_channels.livechat_channel_id.ids)])
        )
        line_by_livechat = {line.livechat_channel_id: line for line in lines}
        vals_list = []
        for session in discuss_channels:
            line = line_by_livechat.get(session.livechat_channel_id)
            if not line:
                continue
            operator = session.livechat_operator_id.user_ids[:1]
            visitor = session.channel_member_ids.filtered(lambda m: m.livechat_member_type == "visitor")[:1]
            vals_list.append(
                {
                    "name": visitor.partner_id.name or visitor.guest_id.name or session.name,
                    "company_id": line.company_id.id,
                    "line_id": line.id,
                    "partner_id": visitor.partner_id.id,
                    "discuss_channel_id": session.id,
                    "operator_id": operator.id,
                    "state": "assigned" if operator else "bot",
                }
            )
        dialogs = self.sudo().create(vals_list)
        for dialog in dialogs:
            dialog.discuss_channel_id.openlines_dialog_id = dialog
        return dialogs

    # -- life cycle ----------------------------------------------------------
    def _on_client_message(self):
        """A client message arrived: the dialog waits for an answer again."""
        now = fields.Datetime.now()
        for dialog in self:
            vals = {"date_last_client": now}
            if dialog.state == "answered":
                vals["state"] = "assigned"
            dialog.write(vals)

    def _on_answer(self, author=None):
        """An operator or bot answered (``author``: their partner, when known)."""
        now = fields.Datetime.now()
        for dialog in self:
            vals = {"date_last_answer": now}
            if dialog.state in ("assigned", "queued", "bot"):
                vals["state"] = "answered"
            dialog.write(vals)

    def _post_notice(self, text):
        """Show ``text`` to the operator in the dialog's Discuss session (never sent to the client)."""
        root = self.env.ref("base.partner_root")
        for dialog in self:
            # sudo: discuss.channel - a system notice in the dialog's session
            dialog.discuss_channel_id.sudo().message_post(
                author_id=root.id,
                body=Markup('<div class="o_mail_notification">%s</div>') % text,
                message_type="notification",
                subtype_xmlid="mail.mt_comment",
            )

    def _post_notice_once(self, text):
        """Post ``text`` as a notice unless the session already shows it (an Avito item...)."""
        shown = str(escape(text))
        for dialog in self:
            # sudo: mail.message - read the dialog's own session to avoid repeating a notice
            if not dialog.discuss_channel_id.sudo().message_ids.filtered(
                lambda m: m.message_type == "notification" and shown in (m.body or "")
            ):
                dialog._post_notice(text)

    def _reopen(self):
        for dialog in self:
            dialog.write({"state": "assigned" if dialog.operator_id else "queued", "date_closed": False})
            # sudo: discuss.channel - the session of a reopened dialog is live again
            dialog.discuss_channel_id.sudo().livechat_end_dt = False

    def _mark_closed(self):
        self.filtered(lambda d: d.state != "closed").write({"state": "closed", "date_closed": fields.Datetime.now()})

    # -- actions -------------------------------------------------------------
    # Every action checks the caller's right first (the record rules, and who may
    # get the dialog), then works in sudo mode: the fields it changes are the addon's.
    def _check_can_act(self):
        """The caller may act on these dialogs: write access through the roles' rules."""
        if not self.env.su:
            self.check_access("write")

    def _may_get(self, user, line):
        """May ``user`` get this dialog in ``line``: an active internal operator of the line, or a
        director of it (who supervises it, or it names no supervisors), in the dialog's company.
        The one rule of transfers: checked on every transfer, and the transfer form offers no one else."""
        self.ensure_one()
        user = user.sudo()  # sudo: res.users - the checks read the target user's groups and companies
        line = line.sudo()  # sudo: openlines.line - and the line's operators and supervisors
        return bool(
            user.active
            and not user.share
            and user.has_group(MANAGER)
            and self.company_id in user.company_ids
            and (
                user in line.user_ids
                or user.has_group(ADMIN)
                or (user.has_group(DIRECTOR) and (not line.supervisor_ids or user in line.supervisor_ids))
            )
        )

    def _check_new_operator(self, user, line):
        """Refuse a transfer to someone :meth:`_may_get` refuses."""
        self.ensure_one()
        if not self._may_get(user, line):
            raise UserError(
                self.env._(
                    "%(user)s cannot get dialogs of the line %(line)s: only its active operators and directors can.",
                    user=user.name or "?",
                    line=line.name,
                )
            )

    def action_take(self):
        """The current user takes the dialog: joins its Discuss session as operator."""
        self.ensure_one()
        self._check_can_act()
        if self.state == "closed":
            raise UserError(self.env._("This dialog is closed."))
        self._check_new_operator(self.env.user, self.line_id)
        self.sudo()._take_as(self.env.user)
        return self.action_open_discuss()

    def action_take_as(self, user):
        """Make ``user`` the dialog's operator: a take, or a hand-over with the same checks as a transfer."""
        self.ensure_one()
        self._check_can_act()
        self._check_new_operator(user, self.line_id)
        self.sudo()._take_as(user)
        return True

    def _take_as(self, user):
        """Make ``user`` the dialog's operator and a member of its session (callers checked the rights)."""
        self.ensure_one()
        channel = self.discuss_channel_id.sudo()  # sudo: discuss.channel - the operator joins the session
        if user.partner_id not in channel.channel_member_ids.partner_id:
            channel._add_members(users=user, create_member_params={"livechat_member_type": "agent"})
        channel.write({"livechat_operator_id": user.partner_id.id, "livechat_status": "in_progress"})
        self.write({"operator_id": user.id, "state": "assigned" if self.state == "queued" else self.state})

    def action_close(self):
        self._check_can_act()
        for dialog in self:
            # sudo: discuss.channel - closing a dialog ends its session
            dialog.discuss_channel_id.sudo().livechat_end_dt = fields.Datetime.now()
        self.sudo()._mark_closed()
        return True

    def action_reopen(self):
        self._check_can_act()
        self.sudo().filtered(lambda d: d.state == "closed")._reopen()
        return True

    def action_open_discuss(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.client",
            "tag": "mail.action_discuss",
            "params": {"active_id": f"discuss.channel_{self.discuss_channel_id.id}"},
        }

    def action_view_message_log(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_message_action")
        action["domain"] = [("dialog_id", "=", self.id)]
        return action

    def _lead_transcript(self):
        """The conversation as the lead's chatter gets it: a link to the dialog, and the text of the
        conversation without links to the client's files (a lead is read by every salesperson);
        a line with supervisors keeps its conversations to them: the lead gets the link only."""
        self.ensure_one()
        title = self.env._("Conversation of the dialog %(link)s", link=self._dialog_link())
        if self.sudo().line_id.supervisor_ids:  # sudo: openlines.line - whoever closes the dialog
            return Markup("<p>%s</p>") % title
        # sudo: discuss.channel - the transcript of the dialog's own session, attachments by name only
        session = self.discuss_channel_id.sudo().with_context(openlines_lead_transcript=True)
        return Markup("<p>%s</p>%s") % (title, session._get_channel_history())

    # -- demo ----------------------------------------------------------------
    @api.model
    def _demo_populate(self, channel_id):
        """Fill the demo line with a few dialogs, as if clients had written (demo data only)."""
        from ..connectors.base import InboundEvent

        channel = self.env["openlines.channel"].browse(channel_id)
        admin = self.env.ref("base.user_admin")
        conversations = [
            (
                "1000001",
                "Иван Петров",
                "ivan_petrov",
                [
                    ("client", "Здравствуйте! Есть ли доставка в Казань?"),
                    ("operator", "Добрый день, Иван! Да, доставляем за 2–3 дня, бесплатно от 5 000 ₽."),
                    ("client", "Отлично, тогда оформлю заказ сегодня."),
                ],
            ),
            (
                "1000002",
                "Maria Smirnova",
                "msmirnova",
                [
                    ("client", "Hi! Do you have the blue jacket in size M?"),
                ],
            ),
            (
                "1000003",
                "Олег",
                "",
                [
                    ("client", "Можно счёт на юрлицо?"),
                    ("operator", "Конечно, пришлите реквизиты — выставим сегодня."),
                ],
            ),
        ]
        for chat_id, name, username, messages in conversations:
            event = InboundEvent(kind="message", chat_id=chat_id, user_id=chat_id, name=name, username=username)
            contact = self.env["openlines.contact"]._get_or_create(channel, event)
            dialog = self._create_for_contact(contact)
            if not dialog.operator_id:
                dialog._take_as(admin)
            session = dialog.discuss_channel_id.with_context(openlines_inbound=True)
            for who, text in messages:
                from_client = who == "client"
                session.message_post(
                    author_id=(contact.partner_id if from_client else admin.partner_id).id,
                    body=text,
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                )
                if from_client:
                    dialog._on_client_message()
                else:
                    dialog._on_answer(admin.partner_id)
