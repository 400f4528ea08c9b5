from odoo import models
from odoo.exceptions import AccessError

from odoo.addons.mail.tools.discuss import Store

from .openlines_guard import ADMIN

#: ``operator_model`` of a site session that nobody took yet: the line's queue holds it
QUEUE_MODEL = "openlines.line"


class ImLivechatChannel(models.Model):
    """The live-chat channel behind a line: the line decides who answers its site widget.

    - **Agents**: the line's operators are the channel's agents (``user_ids`` and the line's ordered
      ``operator_ids`` are kept in step, :meth:`write`); they need no Live Chat group, so they do
      not read other lines' sessions, and losing a Live Chat group does not take them off a line.
    - **Who gets a visitor**: the line's routing (distribution mode, limit per operator, working
      hours, time off, presence), through im_livechat's own hooks :meth:`_get_operator` and
      :meth:`_get_available_operators_by_livechat_channel`, so the chatbot's forward step follows
      the line too.
    - **The chatbot is the line's** (:meth:`_get_operator_info`): a visitor meets the line's
      ``chatbot_script_id``, the script its messenger clients meet; the channel's rules decide only
      where and how the button shows, their own chatbot is never started (``ImLivechatChannelRule``).
    - **Nobody available, off hours, consent**: the visitor still gets a session, held by the
      line's queue (:meth:`_get_operator_info`, :meth:`_get_livechat_discuss_channel_vals`), as a
      messenger client does; the line's texts follow its first message (``openlines.dialog``).
    - **An archived line** takes nothing in: its widget is not offered and opens no session.

    Joining the channel through im_livechat is refused: directors are Live Chat users, and
    joining would make them operators of a line they may not supervise.
    """

    _inherit = "im_livechat.channel"

    def write(self, vals):
        res = super().write(vals)
        if "user_ids" in vals and not self.env.context.get("openlines_syncing_agents"):
            self._openlines_line()._sync_operators_from_agents()
        return res

    def action_join(self):
        self.ensure_one()
        if not self.env.su and not self.env.user.has_group(ADMIN):
            if self._openlines_line():
                raise AccessError(
                    self.env._("The operators of an Open Line are chosen on the line, by an Open Lines administrator.")
                )
        return super().action_join()

    # -- the line behind the channel ----------------------------------------------------
    def _openlines_line(self):
        """The Open Lines of these live-chat channels (archived ones too), whatever the caller may read."""
        if not self:
            return self.env["openlines.line"]
        # sudo: openlines.line - which line drives a channel is no secret of the caller's
        return (
            self.env["openlines.line"]
            .sudo()
            .with_context(active_test=False)
            .search([("livechat_channel_id", "in", self.ids)])
        )

    # -- im_livechat's hooks -------------------------------------------------------------
    def _get_available_operators_by_livechat_channel(self, users=None):
        """For a line's channel, its available operators are the line's (hours, limit, time off...)."""
        result = super()._get_available_operators_by_livechat_channel(users)
        if users is None:
            for line in self._openlines_line():
                result[line.livechat_channel_id] = line._available_operators()
        return result

    def _get_operator(self, previous_operator_id=None, lang=None, country_id=None, expertises=None, users=None):
        """A line's channel gives the visitor to the operator the line's distribution picks."""
        line = self._openlines_line() if users is None else None
        if line:
            return line._pick_operator()
        return super()._get_operator(
            previous_operator_id=previous_operator_id,
            lang=lang,
            country_id=country_id,
            expertises=expertises,
            users=users,
        )

    def _get_operator_info(self, /, *, lang, country_id, previous_operator_id=None, chatbot_script_id=None, **kwargs):
        """A line's widget always opens a session while the line is active: with its operator, its
        chatbot, or held by the line's queue (nobody available, off hours, consent first)."""
        line = self._openlines_line()
        if not line:
            return super()._get_operator_info(
                lang=lang,
                country_id=country_id,
                previous_operator_id=previous_operator_id,
                chatbot_script_id=chatbot_script_id,
                **kwargs,
            )
        queue = {
            "agent": self.env["res.users"],
            "chatbot_script": self.env["chatbot.script"],
            "operator_partner": self.env.ref("base.partner_root"),
            "operator_model": QUEUE_MODEL,
        }
        if not line.active:
            return dict(queue, operator_partner=self.env["res.partner"])  # no session at all
        if line.consent_required:
            return queue  # nothing reaches an operator, nor the chatbot, before the visitor agrees
        if script := line._chatbot_script():
            return self._openlines_chatbot_info(script)
        info = super()._get_operator_info(
            lang=lang,
            country_id=country_id,
            previous_operator_id=previous_operator_id,
            chatbot_script_id=None,  # a rule's chatbot (the widget's hint) never talks for a line
            **kwargs,
        )
        return info if info["operator_partner"] else queue

    def _openlines_chatbot_info(self, script):
        """The operator info of a session the line's chatbot opens, as im_livechat builds it for a rule's."""
        return {
            "agent": self.env["res.users"],
            "chatbot_script": script.with_context(lang=self.env["chatbot.script"]._get_chatbot_language()),
            "operator_partner": script.operator_partner_id,
            "operator_model": "chatbot.script",
        }

    def _get_livechat_discuss_channel_vals(
        self, /, *, chatbot_script=None, agent=None, operator_partner, operator_model, **kwargs
    ):
        """A session held by the line's queue has the visitor only; OdooBot stands for the operator."""
        vals = super()._get_livechat_discuss_channel_vals(
            chatbot_script=chatbot_script,
            agent=agent,
            operator_partner=operator_partner,
            operator_model=operator_model,
            **kwargs,
        )
        if operator_model == QUEUE_MODEL:
            vals["channel_member_ids"] = [
                command for command in vals["channel_member_ids"] if command[2].get("livechat_member_type") == "visitor"
            ]
            vals.update(livechat_status="need_help", livechat_failure="no_agent")
        return vals

    def _is_livechat_available(self):
        """A line's widget is offered while the line is active and has operators (a visitor nobody
        can answer right now waits in the queue or reads the off-hours text, as a messenger client)."""
        line = self._openlines_line()
        if line:
            return line._widget_open()
        return super()._is_livechat_available()


class ImLivechatChannelRule(models.Model):
    """On a line's channel a rule says where and how the button shows (pages, countries, pop-up);
    the chatbot is the line's, whatever the rule names: the widget is told the line's script
    (:meth:`_to_store_defaults`) and the session opens with it (``im_livechat.channel``)."""

    _inherit = "im_livechat.channel.rule"

    def _openlines_chatbot(self):
        """The chatbot a visitor meets under this rule: the line's on a line's channel (or none)."""
        self.ensure_one()
        line = self.channel_id._openlines_line()
        return line._chatbot_script() if line else self.chatbot_script_id

    def _to_store_defaults(self, target):
        return [
            Store.One("chatbot_script_id", value=lambda rule: rule._openlines_chatbot())
            if isinstance(field, Store.One) and field.field_name == "chatbot_script_id"
            else field
            for field in super()._to_store_defaults(target)
        ]
