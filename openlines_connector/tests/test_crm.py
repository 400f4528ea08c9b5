from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..connectors.base import InboundEvent
from .common import SECRET, WEBHOOK, OpenlinesCase

MANAGER = "openlines_connector.group_openlines_manager"
PHONE = "+79161234567"  # the phone the Telegram ``contact`` fixture shares


@tagged("post_install", "-at_install")
class TestCrm(OpenlinesCase):
    """Clients are partners, found before being created; dialogs feed leads."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.team = cls.env["crm.team"].create({"name": "Messenger sales"})
        cls.line.team_id = cls.team
        cls.channel2 = cls.env["openlines.channel"].create(
            {
                "name": "Second bot",
                "line_id": cls.line.id,
                "channel_type": "telegram",
                "token": cls.fake.token,
                "webhook_secret": SECRET,
                "api_base_url": cls.fake.url,
            }
        )

    # -- helpers -------------------------------------------------------------
    def receive_on_second_bot(self, update):
        self.post_update(update, url=WEBHOOK % self.channel2.webhook_key)
        self.process()
        return self.env["openlines.dialog"].search([("channel_id", "=", self.channel2.id)], order="id desc", limit=1)

    def new_dialog(self, name="text", update_id=None):
        """Close the client's dialog (if any) and start a new one."""
        dialog = self.dialog_of()
        if dialog:
            dialog.action_close()
        self.line.reopen_hours = 0
        self.receive(self.fixture(name, update_id))
        return self.dialog_of()

    def event(self, chat_id, **kw):
        return InboundEvent(kind="message", chat_id=chat_id, user_id=kw.pop("user_id", chat_id), **kw)

    # -- partners ------------------------------------------------------------
    def test_a_new_client_becomes_a_partner_with_what_the_messenger_tells(self):
        self.receive(self.fixture("text"))
        partner = self.dialog_of().partner_id
        self.assertEqual(partner.name, "Test Test Lastname")
        self.assertIn("@Test", partner.comment)
        self.assertIn("Test bot", partner.comment)
        self.assertEqual(self.dialog_of().contact_id.partner_id, partner)

    def test_a_client_is_matched_by_phone_in_any_format(self):
        partner = self.env["res.partner"].create({"name": "Иван Петров", "phone": "+7 916 123-45-67"})
        self.receive(self.fixture("contact"))  # first message shares the client's own phone
        dialog = self.dialog_of()
        self.assertEqual(dialog.partner_id, partner)
        self.assertEqual(dialog.contact_id.phone, PHONE)
        self.assertEqual(partner.name, "Иван Петров", "an existing partner is not renamed")

    def test_a_phone_shared_later_reaches_the_partner(self):
        self.receive(self.fixture("text"))
        self.receive(self.fixture("contact"))
        self.assertEqual(self.dialog_of().contact_id.phone, PHONE)
        self.assertEqual(self.dialog_of().partner_id.phone, PHONE)

    def test_an_employee_is_never_taken_for_a_client(self):
        self.operator.partner_id.phone = PHONE
        contact = self.env["openlines.contact"]._get_or_create(self.channel, self.event("503", phone=PHONE))
        self.assertNotEqual(contact.partner_id, self.operator.partner_id)

    def test_a_client_is_matched_by_email(self):
        partner = self.env["res.partner"].create({"name": "Maria", "email": "Maria@Example.com"})
        event = self.event("501", name="Maria S.")
        event.email = "maria@example.com"
        contact = self.env["openlines.contact"]._get_or_create(self.channel, event)
        self.assertEqual(contact.partner_id, partner)

    def test_phone_comes_before_email(self):
        by_phone = self.env["res.partner"].create({"name": "By phone", "phone": PHONE})
        self.env["res.partner"].create({"name": "By email", "email": "x@example.com"})
        event = self.event("502", phone=PHONE)
        event.email = "x@example.com"
        self.assertEqual(self.env["openlines.contact"]._get_or_create(self.channel, event).partner_id, by_phone)

    def test_same_telegram_user_on_another_bot_is_the_same_partner(self):
        self.receive(self.fixture("text"))
        first = self.dialog_of()
        second = self.receive_on_second_bot(self.fixture("reply"))
        self.assertNotEqual(second.contact_id, first.contact_id)
        self.assertEqual(second.partner_id, first.partner_id)
        self.assertEqual(len(first.partner_id.openlines_contact_ids), 2)

    def test_same_phone_on_another_channel_is_the_same_partner(self):
        """A client who writes from one messenger and later another with the same phone is one partner."""
        first = self.env["openlines.contact"]._get_or_create(self.channel, self.event("601", name="Oleg", phone=PHONE))
        first.partner_id.phone = False  # changed in CRM: the contact still knows the phone
        other = self.event("79161234567", user_id="79161234567", name="Олег", phone="79161234567")
        second = self.env["openlines.contact"]._get_or_create(self.channel2, other)
        self.assertEqual(second.partner_id, first.partner_id)

    def test_different_people_get_different_partners(self):
        Contact = self.env["openlines.contact"]
        one = Contact._get_or_create(self.channel, self.event("701", name="Anna"))
        two = Contact._get_or_create(self.channel2, self.event("702", name="Anna"))
        self.assertNotEqual(one.partner_id, two.partner_id, "a same name is not a same person")

    def test_the_partner_form_shows_dialogs_of_every_channel(self):
        self.receive(self.fixture("text"))
        self.receive_on_second_bot(self.fixture("reply"))
        partner = self.dialog_of().partner_id
        self.assertEqual(partner.openlines_dialog_count, 2)
        self.assertEqual(set(partner.openlines_dialog_ids.channel_id.ids), {self.channel.id, self.channel2.id})
        action = partner.action_view_openlines_dialogs()
        self.assertEqual(self.env["openlines.dialog"].search(action["domain"]), partner.openlines_dialog_ids)
        self.assertEqual(partner.with_user(self.operator).openlines_dialog_count, 2)

    # -- merge and split ----------------------------------------------------
    def test_merge_ties_contacts_to_one_partner_and_dialogs_go_on(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        other = self.env["openlines.contact"]._get_or_create(self.channel2, self.event("801", name="Someone"))
        director = new_test_user(
            self.env, login="ol_merging_director", groups="openlines_connector.group_openlines_director"
        )
        wizard = (
            self.env["openlines.contact.merge"]
            .with_user(director)
            .with_context(active_model="openlines.contact", active_ids=[other.id, dialog.contact_id.id])
            .create({})
        )
        self.assertEqual(wizard.partner_id, dialog.partner_id, "the oldest contact's partner by default")
        wizard.partner_id = other.partner_id
        wizard.action_merge()
        self.assertEqual(dialog.contact_id.partner_id, other.partner_id)
        self.assertEqual(dialog.partner_id, other.partner_id)
        self.assertIn(other.partner_id, dialog.discuss_channel_id.channel_member_ids.partner_id)
        self.receive(self.fixture("reply"))
        self.assertEqual(self.dialog_of(), dialog)
        self.assertEqual(self.client_messages(dialog)[-1].author_id, other.partner_id)

    def test_split_gives_a_contact_a_partner_of_its_own(self):
        self.receive(self.fixture("text"))
        second = self.receive_on_second_bot(self.fixture("reply"))
        shared = second.partner_id
        second.contact_id.action_split()
        self.assertNotEqual(second.contact_id.partner_id, shared)
        self.assertEqual(second.partner_id, second.contact_id.partner_id)
        self.assertEqual(self.dialog_of().partner_id, shared)

    # -- leads ---------------------------------------------------------------
    def test_a_new_dialog_creates_a_lead_with_team_salesperson_and_source(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        lead = dialog.lead_id
        self.assertTrue(lead)
        self.assertEqual(lead.partner_id, dialog.partner_id)
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.operator)
        self.assertEqual(lead.source_id.name, "Test bot")
        self.assertEqual(lead.medium_id.name, "Telegram")
        self.assertEqual(lead.openlines_dialog_ids, dialog)
        self.assertEqual(lead.openlines_dialog_count, 1)
        self.assertIn(f"/odoo/openlines.dialog/{dialog.id}", lead.message_ids[0].body)

    def test_no_open_lead_rule_reuses_the_open_lead_then_makes_a_new_one(self):
        first = self.new_dialog("text")
        lead = first.lead_id
        second = self.new_dialog("reply")
        self.assertNotEqual(second, first)
        self.assertEqual(second.lead_id, lead, "the client's open lead collects the new dialog")
        self.assertEqual(lead.openlines_dialog_count, 2)
        lead.action_set_won()
        third = self.new_dialog("entities")
        self.assertTrue(third.lead_id)
        self.assertNotEqual(third.lead_id, lead)

    def test_always_rule_creates_a_lead_for_every_dialog(self):
        self.line.lead_rule = "always"
        first = self.new_dialog("text")
        second = self.new_dialog("reply")
        self.assertTrue(first.lead_id and second.lead_id)
        self.assertNotEqual(first.lead_id, second.lead_id)

    def test_never_rule_leaves_the_lead_to_the_operator(self):
        self.line.lead_rule = "never"
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        self.assertFalse(dialog.lead_id)
        self.assertTrue(dialog.with_user(self.operator).action_create_lead(), "no Sales rights: not opened")
        self.assertTrue(dialog.lead_id)
        self.assertEqual(dialog.lead_id.user_id, self.operator)
        with self.assertRaises(UserError):
            dialog.action_create_lead()
        dialog.lead_id = False
        self.operator.group_ids = [(4, self.env.ref("sales_team.group_sale_salesman").id)]
        action = dialog.with_user(self.operator).action_create_lead()
        self.assertEqual(action["res_id"], dialog.lead_id.id)

    def test_the_conversation_reaches_the_lead_when_the_dialog_closes(self):
        self.receive(self.fixture("reply"))
        dialog = self.dialog_of()
        self.operator_reply(dialog, "Доставляем за 2–3 дня")
        dialog.with_user(self.operator).action_close()
        transcript = dialog.lead_id.message_ids[0].body
        self.assertIn("Здравствуйте", transcript)
        self.assertIn("Доставляем за 2–3 дня", transcript)

    def test_a_queued_dialog_taken_gives_its_lead_a_salesperson(self):
        self.env["mail.presence"].search([("user_id", "=", self.operator.id)]).unlink()
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        self.assertFalse(dialog.lead_id.user_id)
        dialog.with_user(self.operator).action_take()
        self.assertEqual(dialog.lead_id.user_id, self.operator)

    def test_site_chat_of_a_known_visitor_gets_a_lead_with_website_medium(self):
        portal = new_test_user(self.env, login="ol_portal_client", groups="base.group_portal")
        self.authenticate("ol_portal_client", "ol_portal_client")
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": self.line.livechat_channel_id.id})
        dialog = self.env["discuss.channel"].browse(data["channel_id"]).openlines_dialog_id
        self.assertEqual(dialog.partner_id, portal.partner_id)
        self.assertEqual(dialog.lead_id.medium_id, self.env.ref("utm.utm_medium_website"))
        self.assertEqual(dialog.lead_id.source_id.name, "Test line")

    def test_changes_in_crm_never_break_the_dialog(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        dialog.partner_id.write({"name": "Renamed in CRM", "phone": "+10000000000"})
        dialog.lead_id.action_set_won()
        self.receive(self.fixture("reply"))
        self.assertEqual(self.dialog_of(), dialog)
        dialog.lead_id.unlink()
        self.receive(self.fixture("entities"))
        self.assertEqual(self.dialog_of(), dialog)
        self.assertFalse(dialog.lead_id)
        self.assertEqual(len(self.client_messages(dialog)), 3)
        self.assertEqual(self.rows().mapped("state"), ["done"] * 3)
        dialog.action_close()  # no lead any more: closing still works
        self.assertEqual(dialog.state, "closed")

    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_lead_made_with_the_lead_command_belongs_to_the_dialog_only(self):
        """crm_livechat's ``/lead`` would open the session to every salesperson; a dialog keeps it private."""
        salesman = self.env.ref("sales_team.group_sale_salesman")
        self.operator.group_ids = [(4, salesman.id)]
        other = new_test_user(self.env, login="ol_sales_manager", groups=f"{MANAGER},sales_team.group_sale_salesman")
        self.line.lead_rule = "never"
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        dialog.discuss_channel_id.with_user(self.operator).execute_command_lead(body="/lead Big order")
        self.assertEqual(dialog.lead_id.name, "Big order")
        self.assertFalse(dialog.lead_id.origin_channel_id)
        with self.assertRaises(AccessError):
            dialog.discuss_channel_id.with_user(other).read(["name"])
