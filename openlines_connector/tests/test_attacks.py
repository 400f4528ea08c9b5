"""The attack suite of issue 18: each attack, as the role that would try it, and proof that nothing changed.

Attacks 6-12 and 17 (outbound fetches, media ids, size caps, token scrubbing, VK verification,
the access log, Avito echoes) are tested beside their connectors; the README's *Security model*
lists where. Every test here asserts on what the attack would have changed: the record's value,
the calls the fake messenger API received, the mail queue, the session's members and messages.
"""

import base64
import json
from itertools import product

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import WEBHOOK, OpenlinesCase

MANAGER = "openlines_connector.group_openlines_manager"
DIRECTOR = "openlines_connector.group_openlines_director"
ADMIN = "openlines_connector.group_openlines_admin"
#: what an AccessError of a refused write logs
QUIET = ("odoo.models", "odoo.addons.base.models.ir_rule", "odoo.addons.base.models.ir_model")

#: fields of a dialog a manager must not write (issue 18, findings 1-3)
DIALOG_TIES = {
    "line_id",
    "channel_id",
    "contact_id",
    "partner_id",
    "discuss_channel_id",
    "operator_id",
    "lead_id",
    "state",
    "company_id",
}
DIALOG_FIGURES = {
    "first_response_time": 1.0,
    "avg_response_time": 1.0,
    "total_response_time": 1.0,
    "max_response_time": 1.0,
    "kpi_response_count": 9,
    "kpi_client_message_count": 9,
    "kpi_answer_count": 9,
    "is_late": True,
    "kpi_late_count": 3,
    "rating_value": 5,
    "rating_requested": True,
    "date_closed": "2020-01-01 00:00:00",
    "assign_deadline": "2020-01-01 00:00:00",
}


class AttackCase(OpenlinesCase):
    """Two lines: the manager's, and a VIP line with its own operator, client and supervisor."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = cls.operator
        cls.colleague = new_test_user(cls.env, login="ol_att_colleague", groups=MANAGER)
        cls.vip_operator = new_test_user(cls.env, login="ol_att_vip_operator", groups=MANAGER)
        cls.director = new_test_user(cls.env, login="ol_att_director", groups=DIRECTOR)
        cls.vip_director = new_test_user(cls.env, login="ol_att_vip_director", groups=DIRECTOR)
        cls.admin = new_test_user(cls.env, login="ol_att_admin", groups=ADMIN)
        cls.employee = new_test_user(cls.env, login="ol_att_employee", groups="base.group_user")
        cls.portal = new_test_user(cls.env, login="ol_att_portal", groups="base.group_portal")
        cls.line.user_ids = [(4, cls.colleague.id)]
        cls.vip_line = cls.env["openlines.line"].create(
            {
                "name": "VIP line",
                "user_ids": [(6, 0, cls.vip_operator.ids)],
                "supervisor_ids": [(6, 0, cls.vip_director.ids)],
            }
        )
        cls.vip_channel = cls.env["openlines.channel"].create(
            {
                "name": "VIP bot",
                "line_id": cls.vip_line.id,
                "channel_type": "telegram",
                "token": cls.fake.token,
                "webhook_secret": "vip-secret_456",
                "api_base_url": cls.fake.url,
            }
        )

    def setUp(self):
        super().setUp()
        self.mine = self.client_writes(1111111, "Мой клиент")
        self.assertEqual(self.mine.operator_id, self.manager)
        self.env["mail.presence"]._update_presence(self.vip_operator)
        self.victim = self.vip_client_writes(7777777, "Паспорт во вложении")
        self.assertEqual(self.victim.operator_id, self.vip_operator)
        self.fake.calls.clear()

    # -- helpers -------------------------------------------------------------
    def vip_client_writes(self, chat_id, text):
        type(self).next_update += 1
        update = self.text_update(self.next_update, chat_id, text)
        response = self.post_update(update, secret="vip-secret_456", url=WEBHOOK % self.vip_channel.webhook_key)
        self.assertEqual(response.status_code, 200)
        self.process()
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", self.vip_channel.id), ("contact_id.external_id", "=", str(chat_id))], limit=1
        )

    def refused(self, call, errors=AccessError):
        """``call()`` raises one of ``errors``; whatever it did is rolled back."""
        with mute_logger(*QUIET), self.assertRaises(errors), self.env.cr.savepoint():
            call()
            self.env.flush_all()
        self.env.invalidate_all()

    def snapshot(self, record, names):
        return record.sudo().read(sorted(names))[0]


@tagged("post_install", "-at_install")
class TestAttacksOnDialogs(AttackCase):
    # -- finding 1: a manager reads and posts in any Discuss conversation --------------------------
    def test_1_a_manager_cannot_point_his_dialog_at_a_private_conversation(self):
        private = (
            self.env["discuss.channel"]
            .with_user(self.admin)
            ._create_group(partners_to=self.admin.partner_id.ids, name="Board")
        )
        private.message_post(body="Salaries 2027", message_type="comment", subtype_xmlid="mail.mt_comment")
        dm = self.env["discuss.channel"].with_user(self.admin)._get_or_create_chat(self.colleague.partner_id.ids)
        before = private.message_ids | dm.message_ids
        for target in (private, dm, self.victim.discuss_channel_id):
            with self.subTest(target=target.name):
                self.refused(lambda t=target: self.mine.with_user(self.manager).write({"discuss_channel_id": t.id}))
                self.assertEqual(self.mine.discuss_channel_id.openlines_dialog_id, self.mine)
        # the transfer note and the closing transcript stay in his own session
        self.mine.with_user(self.manager).action_transfer(user_id=self.colleague.id, note="see you")
        self.assertEqual(private.message_ids | dm.message_ids, before)
        self.assertNotIn(self.manager.partner_id, private.channel_member_ids.partner_id)

    def test_1_the_transcript_is_not_mailed_to_an_address_of_his_choosing(self):
        self.line.send_transcript = True
        thief = self.env["res.partner"].create({"name": "Thief", "email": "thief@example.com"})
        self.refused(lambda: self.mine.with_user(self.manager).write({"partner_id": thief.id}))
        self.mine.with_user(self.manager).action_close()
        self.assertFalse(self.env["mail.mail"].search([("email_to", "ilike", "thief@example.com")]))

    def test_1_a_chat_cannot_be_made_a_dialogs_session(self):
        """Tying a chat to another's dialog would send what he posts there to that dialog's client."""
        Channel = self.env["discuss.channel"].with_user(self.manager)
        victim = self.victim.id
        self.refused(lambda: Channel._create_group(partners_to=[], name="x").write({"openlines_dialog_id": victim}))
        self.refused(lambda: Channel.create({"name": "x", "channel_type": "group", "openlines_dialog_id": victim}))
        self.refused(
            lambda: self.mine.discuss_channel_id.with_user(self.manager).write({"openlines_dialog_id": self.victim.id})
        )
        self.send()
        self.assertFalse(self.fake.calls_of("sendMessage"))

    def test_1_taking_a_session_without_dialog_is_impossible(self):
        session = self.bare_session(self.env.ref("base.partner_root"), "Web visitor")
        self.refused(lambda: self.mine.with_user(self.manager).write({"discuss_channel_id": session.id}))
        self.mine.with_user(self.manager).action_take()
        self.assertNotIn(self.manager.partner_id, session.channel_member_ids.partner_id)

    # -- finding 2: a manager writes to another line's client -------------------------------------
    def test_2_a_manager_cannot_redirect_his_dialog_to_another_lines_client(self):
        before = self.snapshot(self.mine, DIALOG_TIES)
        for values in (
            {"contact_id": self.victim.contact_id.id},
            {"channel_id": self.vip_channel.id},
            {"contact_id": self.victim.contact_id.id, "channel_id": self.vip_channel.id},
        ):
            with self.subTest(values=values):
                self.refused(lambda v=values: self.mine.with_user(self.manager).write(v))
        self.assertEqual(self.snapshot(self.mine, DIALOG_TIES), before)
        self.operator_reply(self.mine, "Это не для вас")
        self.send()
        (sent,) = self.fake.calls_of("sendMessage")
        self.assertEqual(str(sent["chat_id"]), "1111111", "his answer reaches his own client only")
        with mute_logger(*QUIET), self.assertRaises(AccessError):
            self.victim.contact_id.with_user(self.manager).read(["partner_id"])

    def test_2_even_an_administrator_cannot_tie_a_dialog_to_another_channels_contact(self):
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            self.mine.with_user(self.admin).write({"contact_id": self.victim.contact_id.id})
            self.env.flush_all()

    # -- finding 3: a manager writes his own KPIs and ratings --------------------------------------
    def test_3_a_manager_cannot_write_his_figures_or_rating(self):
        before = self.snapshot(self.mine, DIALOG_FIGURES)
        for fname, value in DIALOG_FIGURES.items():
            with self.subTest(field=fname):
                self.refused(lambda f=fname, v=value: self.mine.with_user(self.manager).write({f: v}))
        self.assertEqual(self.snapshot(self.mine, DIALOG_FIGURES), before)
        # a director neither; the dialog's name stays his to correct
        self.refused(lambda: self.mine.with_user(self.director).write({"is_late": False}))
        self.mine.with_user(self.manager).write({"name": "Иван (опт)"})
        self.assertEqual(self.mine.name, "Иван (опт)")

    # -- finding 5: a director reaches lines he does not supervise -------------------------------
    def test_5_a_director_cannot_join_a_line_he_does_not_supervise(self):
        livechat = self.vip_line.livechat_channel_id
        self.refused(lambda: livechat.with_user(self.director).action_join())
        self.assertNotIn(self.director, livechat.user_ids)
        self.assertFalse(self.env["openlines.dialog"].with_user(self.director).search([("id", "=", self.victim.id)]))
        with mute_logger(*QUIET), self.assertRaises(AccessError):
            self.victim.discuss_channel_id.with_user(self.director).read(["name"])
        # a Live Chat channel that is no Open Line is joined as before
        other = self.env["im_livechat.channel"].create({"name": "Plain live chat"})
        other.with_user(self.director).action_join()
        self.assertIn(self.director, other.user_ids)

    # -- finding 15: a dialog can be handed to anyone ---------------------------------------------
    def test_15_a_dialog_goes_only_to_an_operator_of_the_line(self):
        archived = new_test_user(self.env, login="ol_att_archived", groups=MANAGER)
        self.line.user_ids = [(4, archived.id)]
        archived.active = False
        # by the dialog's manager, and by a director of the line (whose rights do not hang on the operator)
        targets = (self.portal, self.employee, self.vip_operator, archived)
        for by, user in product((self.manager, self.director), targets):
            with self.subTest(by=by.login, user=user.login):
                dialog = self.mine.with_user(by)
                self.refused(lambda d=dialog, u=user: d.action_transfer(user_id=u.id), UserError)
                self.refused(lambda d=dialog, u=user: d.action_take_as(u), UserError)
                self.assertEqual(self.mine.operator_id, self.manager)
                self.assertNotIn(user.partner_id, self.mine.discuss_channel_id.channel_member_ids.partner_id)
        # nor to another company's line
        other_company = self.env["res.company"].create({"name": "Other Co"})
        foreign = self.env["openlines.line"].create({"name": "Foreign", "company_id": other_company.id})
        for by in (self.manager, self.director):
            self.refused(lambda b=by: self.mine.with_user(b).action_transfer(line_id=foreign.id), UserError)
        self.assertEqual(self.mine.line_id, self.line)

    def test_functional_a_manager_transfers_his_own_dialog_to_a_colleague(self):
        self.mine.with_user(self.manager).action_transfer(user_id=self.colleague.id, note="VIP client")
        self.assertEqual(self.mine.operator_id, self.colleague)
        members = self.mine.discuss_channel_id.channel_member_ids.partner_id
        self.assertIn(self.colleague.partner_id, members)
        self.assertNotIn(self.manager.partner_id, members)
        self.assertIn("VIP client", self.mine.discuss_channel_id.message_ids[0].body)
        # and to another line's queue
        self.mine.with_user(self.colleague).action_transfer(line_id=self.vip_line.id)
        self.assertEqual((self.mine.line_id, self.mine.state), (self.vip_line, "queued"))

    def test_a_manager_cannot_hand_his_dialog_over_by_writing_the_operator(self):
        self.refused(lambda: self.mine.with_user(self.manager).write({"operator_id": self.colleague.id}))
        self.refused(lambda: self.mine.with_user(self.manager).write({"state": "closed"}))
        self.assertEqual((self.mine.operator_id, self.mine.state), (self.manager, "assigned"))

    # -- new: the same fields through the partner's and the lead's one2many -----------------------
    def test_new_a_partner_or_lead_form_cannot_rewire_dialogs_or_contacts(self):
        """The ties written from the other side: a partner's Dialogs and Messenger contacts, a lead's Dialogs."""
        self.manager.group_ids = [(4, self.env.ref("sales_team.group_sale_salesman_all_leads").id)]
        thief = self.env["res.partner"].create({"name": "Thief", "email": "thief@example.com"})
        contact, lead_before = self.mine.contact_id, self.mine.lead_id
        self.refused(lambda: thief.with_user(self.manager).write({"openlines_dialog_ids": [(4, self.mine.id)]}))
        self.refused(lambda: thief.with_user(self.manager).write({"openlines_contact_ids": [(4, contact.id)]}))
        lead = self.env["crm.lead"].create({"name": "Another lead", "user_id": self.manager.id})
        self.refused(lambda: lead.with_user(self.manager).write({"openlines_dialog_ids": [(4, self.mine.id)]}))
        self.assertEqual(self.mine.partner_id, contact.partner_id)
        self.assertNotEqual(contact.partner_id, thief)
        self.assertEqual(self.mine.lead_id, lead_before)


@tagged("post_install", "-at_install")
class TestAttacksOnContacts(AttackCase):
    # -- finding 14: a manager rewires his own contact -------------------------------------------
    def test_14_a_manager_cannot_rewire_his_contact_to_hijack_a_client(self):
        contact = self.mine.contact_id
        ties = {
            "channel_id": self.vip_channel.id,
            "external_id": "7777777",
            "external_user_id": "7777777",
            "partner_id": self.victim.partner_id.id,
            "phone": "+79990000000",
            "is_blocked": True,
            "consent_date": "2020-01-01 00:00:00",
            "consent_version": 7,
            "consent_text": "forged",
            "company_id": self.env.company.id,
        }
        before = self.snapshot(contact, ties)
        for fname, value in ties.items():
            with self.subTest(field=fname):
                self.refused(lambda f=fname, v=value: contact.with_user(self.manager).write({f: v}))
        hijack = {"channel_id": self.vip_channel.id, "external_id": "7777777"}
        self.refused(lambda: contact.with_user(self.manager).write(hijack))
        self.assertEqual(self.snapshot(contact, ties), before)
        # the victim's next message lands in the victim's dialog, and nowhere near the manager
        again = self.vip_client_writes(7777777, "Ещё вопрос")
        self.assertEqual(again, self.victim)
        self.assertEqual(again.operator_id, self.vip_operator)
        contact.with_user(self.manager).write({"name": "Иван", "username": "ivan"})  # how it is shown is his

    def test_split_and_merge_are_for_directors(self):
        contact = self.mine.contact_id
        partner = contact.partner_id
        self.refused(lambda: contact.with_user(self.manager).action_split())
        self.assertEqual(contact.partner_id, partner)
        contact.with_user(self.director).action_split()
        self.assertNotEqual(contact.partner_id, partner)

    # -- finding 15 (merge): the merge wizard accepts any partner ---------------------------------
    def test_15_clients_merge_only_into_client_partners_of_their_company(self):
        contact = self.mine.contact_id
        partner = contact.partner_id
        other_company = self.env["res.company"].create({"name": "Merge Co"})
        foreign = self.env["res.partner"].create({"name": "Foreign client", "company_id": other_company.id})
        for target in (self.colleague.partner_id, self.admin.partner_id, foreign):
            with self.subTest(target=target.name):
                wizard = (
                    self.env["openlines.contact.merge"]
                    .with_user(self.director)
                    .create({"contact_ids": [(6, 0, contact.ids)], "partner_id": target.id})
                )
                self.refused(wizard.action_merge, UserError)  # AccessError is a UserError
                self.assertEqual(contact.partner_id, partner)
                self.assertNotIn(target, self.mine.discuss_channel_id.channel_member_ids.partner_id)
        # a manager cannot open the wizard at all
        self.refused(
            lambda: (
                self.env["openlines.contact.merge"]
                .with_user(self.manager)
                .create({"contact_ids": [(6, 0, contact.ids)], "partner_id": partner.id})
            )
        )


@tagged("post_install", "-at_install")
class TestAttacksOnChannels(AttackCase):
    # -- finding 4: a director disconnects a bot at the messenger ---------------------------------
    def test_4_a_director_cannot_reach_the_messenger_through_channel_actions(self):
        self.channel.action_connect()
        self.fake.calls.clear()
        before = self.snapshot(self.channel, {"state", "last_error", "account_name", "webhook_key", "webhook_secret"})
        channel = self.channel.with_user(self.director)
        for action in ("action_disconnect", "action_connect", "action_test", "action_regenerate_keys"):
            with self.subTest(action=action):
                self.refused(getattr(channel, action))
                self.assertFalse(self.fake.calls, f"{action} reached the messenger")
        self.assertEqual(
            self.snapshot(self.channel, {"state", "last_error", "account_name", "webhook_key", "webhook_secret"}),
            before,
        )
        self.assertEqual(self.channel.state, "connected")

    # -- finding 18: the VK secret is readable in the message log --------------------------------
    def test_18_raw_payloads_are_for_administrators_and_carry_no_secret(self):
        vk = self.env["openlines.channel"].create(
            {
                "name": "VK community",
                "line_id": self.line.id,
                "channel_type": "vk",
                "token": "vk1.a.TOKEN-123456",
                "vk_group_id": "203076503",
                "webhook_secret": "vk-callback-secret",
                "api_base_url": self.fake.url,
            }
        )
        payload = {
            "type": "message_new",
            "group_id": 203076503,
            "event_id": "e1",
            "v": "5.131",
            "secret": "vk-callback-secret",
            "object": {"message": {"id": 1, "peer_id": 87641997, "from_id": 87641997, "text": "hi", "date": 1}},
        }
        response = self.url_open(
            WEBHOOK % vk.webhook_key, data=json.dumps(payload), headers={"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 200, response.text)
        row = self.env["openlines.message"].search([("channel_id", "=", vk.id)])
        self.assertEqual(len(row), 1)
        self.assertNotIn("vk-callback-secret", row.payload)
        self.assertIn("hi", row.payload, "the rest of the request is kept")
        self.line.supervisor_ids = self.director
        for user in (self.director, self.manager):
            with self.subTest(user=user.login):
                self.refused(lambda u=user: self.env["openlines.message"].with_user(u).search_read([], ["payload"]))
        self.assertTrue(row.with_user(self.admin).read(["payload"])[0]["payload"])


@tagged("post_install", "-at_install")
class TestAttacksThroughLeads(AttackCase):
    # -- finding 16: the transcript copied into the lead publishes the client's files -------------
    def test_16_the_lead_gets_no_public_link_to_the_clients_files(self):
        self.assertTrue(self.mine.lead_id, "the line's rule gave the dialog its lead")
        lead = self.mine.lead_id
        session = self.mine.discuss_channel_id
        session.message_post(
            author_id=self.mine.partner_id.id,
            body="скан паспорта",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            attachments=[("passport.jpg", base64.b64decode(base64.b64encode(b"\xff\xd8PASSPORT")))],
        )
        attachment = session.message_ids.attachment_ids.filtered(lambda a: a.name == "passport.jpg")
        self.assertTrue(attachment)
        self.mine.action_close()
        notes = lead.message_ids.filtered(lambda m: "Conversation of the dialog" in (m.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertIn("passport.jpg", notes.body, "the file is named")
        self.assertNotIn("access_token", notes.body)
        self.assertNotIn("/web/content", notes.body)
        self.assertNotIn("/web/image", notes.body)
        self.assertFalse(attachment.access_token, "no token makes the client's file public")
        response = self.url_open(f"/web/content/{attachment.id}?download=true")
        self.assertNotIn(b"PASSPORT", response.content)

    def test_16_a_lead_gets_nothing_of_a_supervised_lines_conversation(self):
        lead = self.victim.lead_id
        self.victim.action_close()
        (note,) = lead.message_ids.filtered(lambda m: "Conversation of the dialog" in (m.body or ""))
        self.assertNotIn("Паспорт во вложении", note.body, "a salesperson reads no supervised dialog")
        self.assertIn(f"/odoo/openlines.dialog/{self.victim.id}", note.body, "the link is there, for who may open it")


#: methods of the ORM itself (create, write, unlink, default_get) that the addon overrides: their
#: rights are the access rights and rules (``test_roles.test_each_role_on_each_model``) and the
#: write guard (the attacks above); they are listed here so that a new public method cannot hide
ORM_METHODS = {"create", "write", "unlink", "default_get"}
ROLES = ("portal", "employee", "colleague", "manager", "director", "vip_director", "admin")
OPERATORS = {"manager", "director", "admin"}  # who may act on the manager's dialog (the line names director)


@tagged("post_install", "-at_install")
class TestEveryPublicMethod(AttackCase):
    """Every public method the addon defines, on Open Lines models and on core models it extends,
    called as each role: refused with an AccessError where the role has no right, before any
    messenger call; let through (a business error at most) where it has."""

    def setUp(self):
        super().setUp()
        self.line.supervisor_ids = self.director  # the VIP line's director supervises another line
        self.users = {
            "portal": self.portal,
            "employee": self.employee,
            "colleague": self.colleague,
            "manager": self.manager,
            "director": self.director,
            "vip_director": self.vip_director,
            "admin": self.admin,
        }

    def public_methods(self):
        found = set()
        for model_name in self.env.registry:
            for klass in type(self.env[model_name]).__mro__:
                if not (klass.__module__ or "").startswith("odoo.addons.openlines_connector."):
                    continue
                found.update(
                    (model_name, name)
                    for name, value in vars(klass).items()
                    if not name.startswith("_") and callable(value)
                )
        return found

    def cases(self):
        """(model, method) -> (record, call, roles allowed)."""
        dialog, contact, channel, line = self.mine, self.mine.contact_id, self.channel, self.line
        said = self.client_messages(self.mine)[:1]
        merge = self.env["openlines.contact.merge"].create(
            {"contact_ids": [(6, 0, contact.ids)], "partner_id": contact.partner_id.id}
        )
        template = self.env["openlines.whatsapp.template.send"].create(
            {"dialog_id": dialog.id, "template_name": "hello", "template_lang": "ru"}
        )
        failed = self.rows()[:1]
        failed.write({"state": "failed", "dialog_id": dialog.id})
        readers = {"colleague", "manager", "director", "admin"}  # the line's operators, its director
        everyone_internal = set(ROLES) - {"portal"}
        cases = {}
        if "openlines.dialog.transfer" in self.env:  # working in Discuss (issue 16)
            transfer = self.env["openlines.dialog.transfer"].create(
                {"dialog_id": dialog.id, "target": "user", "user_id": self.colleague.id}
            )
            cases.update(
                {
                    ("openlines.dialog", "action_join"): (dialog, lambda r: r.action_join(), {"director", "admin"}),
                    ("openlines.dialog.transfer", "action_transfer"): (
                        transfer,
                        lambda r: r.action_transfer(),
                        OPERATORS,
                    ),
                    ("discuss.channel", "livechat_join_channel_needing_help"): (
                        dialog.discuss_channel_id,
                        lambda r: r.livechat_join_channel_needing_help(),
                        OPERATORS,
                    ),
                }
            )
        return cases | {
            ("openlines.dialog", "action_take"): (dialog, lambda r: r.action_take(), OPERATORS),
            ("openlines.dialog", "action_take_as"): (dialog, lambda r: r.action_take_as(self.colleague), OPERATORS),
            ("openlines.dialog", "action_transfer"): (
                dialog,
                lambda r: r.action_transfer(user_id=self.colleague.id, note="x"),
                OPERATORS,
            ),
            ("openlines.dialog", "action_close"): (dialog, lambda r: r.action_close(), OPERATORS),
            ("openlines.dialog", "action_reopen"): (dialog, lambda r: r.action_reopen(), OPERATORS),
            ("openlines.dialog", "action_open_discuss"): (dialog, lambda r: r.action_open_discuss(), OPERATORS),
            ("openlines.dialog", "action_view_message_log"): (dialog, lambda r: r.action_view_message_log(), OPERATORS),
            ("openlines.dialog", "action_create_lead"): (dialog, lambda r: r.action_create_lead(), OPERATORS),
            ("openlines.dialog", "action_view_lead"): (dialog, lambda r: r.action_view_lead(), OPERATORS),
            ("openlines.dialog", "action_whatsapp_template"): (
                dialog,
                lambda r: r.action_whatsapp_template(),
                OPERATORS,
            ),
            ("openlines.whatsapp.template.send", "action_send"): (template, lambda r: r.action_send(), OPERATORS),
            ("openlines.contact", "action_view_dialogs"): (contact, lambda r: r.action_view_dialogs(), OPERATORS),
            ("openlines.contact", "action_split"): (contact, lambda r: r.action_split(), {"director", "admin"}),
            ("openlines.contact.merge", "action_merge"): (merge, lambda r: r.action_merge(), {"director", "admin"}),
            ("openlines.channel", "action_connect"): (channel, lambda r: r.action_connect(), {"admin"}),
            ("openlines.channel", "action_disconnect"): (channel, lambda r: r.action_disconnect(), {"admin"}),
            ("openlines.channel", "action_test"): (channel, lambda r: r.action_test(), {"admin"}),
            ("openlines.channel", "action_regenerate_keys"): (
                channel,
                lambda r: r.action_regenerate_keys(),
                {"admin"},
            ),
            ("openlines.channel", "action_view_dialogs"): (
                channel,
                lambda r: r.action_view_dialogs(),
                {"director", "admin"},
            ),
            ("openlines.channel", "action_view_health_messages"): (
                channel,
                lambda r: r.action_view_health_messages(),
                {"director", "admin"},
            ),
            ("openlines.line", "action_view_dialogs"): (line, lambda r: r.action_view_dialogs(), readers),
            ("openlines.line", "action_view_channels"): (line, lambda r: r.action_view_channels(), readers),
            ("openlines.message", "action_retry"): (failed, lambda r: r.action_retry(), {"admin"}),
            ("mail.message", "openlines_retry_delivery"): (
                said,
                lambda r: r.openlines_retry_delivery(),
                OPERATORS,
            ),
            ("res.partner", "action_view_openlines_dialogs"): (
                dialog.partner_id,
                lambda r: r.action_view_openlines_dialogs(),
                everyone_internal,
            ),
            ("crm.lead", "action_view_openlines_dialogs"): (
                dialog.lead_id,
                lambda r: r.action_view_openlines_dialogs(),
                set(),  # a lead is read by Sales users: none of these roles is one
            ),
            ("im_livechat.channel", "action_join"): (
                line.livechat_channel_id,
                lambda r: r.action_join(),
                {"admin"},
            ),
            # working in Discuss (issue 16): join as supervisor, the transfer wizard, Discuss's "Join" = Take
            ("openlines.dialog", "action_join"): (dialog, lambda r: r.action_join(), {"director", "admin"}),
            ("openlines.dialog.transfer", "action_transfer"): (
                dialog,
                lambda r: (
                    r.env["openlines.dialog.transfer"]
                    .create({"dialog_id": r.id, "user_id": self.colleague.id})
                    .action_transfer()
                ),
                OPERATORS,
            ),
            ("discuss.channel", "livechat_join_channel_needing_help"): (
                dialog.discuss_channel_id,
                lambda r: r.livechat_join_channel_needing_help(),
                OPERATORS,
            ),
        }

    def test_every_public_method_checks_the_caller_before_acting(self):
        cases = self.cases()
        listed = set(cases) | {(model, name) for model, name in self.public_methods() if name in ORM_METHODS}
        self.assertEqual(
            self.public_methods() - listed, set(), "a new public method: add it here with the roles that may call it"
        )
        self.assertTrue(self.channel.state in ("draft", "connected"))
        for (model, method), (record, call, allowed) in sorted(cases.items(), key=lambda item: item[0]):
            self.assertTrue(record, f"{model}.{method} has a record to call")
            for role in ROLES:
                with self.subTest(method=f"{model}.{method}", role=role):
                    self.fake.calls.clear()
                    refused = False
                    with mute_logger(*QUIET, "odoo.addons.openlines_connector.models.openlines_channel"):
                        with self.env.cr.savepoint() as savepoint:
                            try:
                                call(record.with_user(self.users[role]))
                                self.env.flush_all()
                            except AccessError:
                                refused = True
                            except UserError:
                                pass  # past the rights check: a business refusal (already has a lead...)
                            finally:
                                savepoint.rollback()
                                self.env.invalidate_all()
                    self.assertEqual(refused, role not in allowed)
                    if refused:
                        self.assertFalse(self.fake.calls, "a refused call reached the messenger")
