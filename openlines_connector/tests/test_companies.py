from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import WEBHOOK, OpenlinesCase

MANAGER = "openlines_connector.group_openlines_manager"
DIRECTOR = "openlines_connector.group_openlines_director"
ADMIN = "openlines_connector.group_openlines_admin"
PHONE = "+79161234567"  # the phone the Telegram ``contact`` fixture shares
QUIET = ("odoo.models", "odoo.addons.base.models.ir_rule")


@tagged("post_install", "-at_install")
class TestCompanies(OpenlinesCase):
    """Issue 18, finding 13: each company's lines, channels, clients, dialogs, log and analysis are its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company1 = cls.env.company
        cls.company2 = cls.env["res.company"].create({"name": "Second company"})
        cls.operator2 = new_test_user(
            cls.env, login="ol_co2_operator", groups=MANAGER, company_id=cls.company2.id, company_ids=cls.company2.ids
        )
        cls.director1 = new_test_user(
            cls.env, login="ol_co1_director", groups=DIRECTOR, company_id=cls.company1.id, company_ids=cls.company1.ids
        )
        cls.admin_both = new_test_user(
            cls.env,
            login="ol_both_admin",
            groups=ADMIN,
            company_id=cls.company1.id,
            company_ids=(cls.company1 | cls.company2).ids,
        )
        cls.line2 = cls.env["openlines.line"].create(
            {"name": "Second company line", "company_id": cls.company2.id, "user_ids": [(6, 0, cls.operator2.ids)]}
        )
        cls.channel2 = cls.env["openlines.channel"].create(
            {
                "name": "Second company bot",
                "line_id": cls.line2.id,
                "channel_type": "telegram",
                "token": cls.fake.token,
                "webhook_secret": "second-secret_789",
                "api_base_url": cls.fake.url,
            }
        )

    def setUp(self):
        super().setUp()
        self.env["mail.presence"]._update_presence(self.operator2)

    def receive2(self, update):
        response = self.post_update(update, secret="second-secret_789", url=WEBHOOK % self.channel2.webhook_key)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        return self.env["openlines.dialog"].search([("channel_id", "=", self.channel2.id)], order="id desc", limit=1)

    def test_everything_of_a_line_belongs_to_its_company(self):
        dialog = self.receive2(self.fixture("text"))
        self.assertTrue(dialog)
        self.assertEqual(dialog.operator_id, self.operator2)
        self.assertEqual(self.channel2.company_id, self.company2)
        self.assertEqual(dialog.company_id, self.company2)
        self.assertEqual(dialog.contact_id.company_id, self.company2)
        self.assertEqual(dialog.partner_id.company_id, self.company2, "a new client is created in the line's company")
        rows = self.env["openlines.message"].search([("channel_id", "=", self.channel2.id)])
        self.assertTrue(rows)
        self.assertEqual(rows.company_id, self.company2)
        report = self.env["openlines.report.dialog"].search([("dialog_id", "=", dialog.id)])
        self.assertEqual(report.company_id, self.company2)
        # the operator of the second company works on it
        self.assertEqual(self.env["openlines.dialog"].with_user(self.operator2).search([]), dialog)
        self.operator_reply(dialog, "Здравствуйте!", user=self.operator2)
        self.assertEqual(dialog.state, "answered")

    @mute_logger(*QUIET)
    def test_a_director_of_one_company_reaches_nothing_of_another(self):
        dialog = self.receive2(self.fixture("text"))
        session = dialog.discuss_channel_id
        user = self.director1
        for model in (
            "openlines.line",
            "openlines.channel",
            "openlines.contact",
            "openlines.dialog",
            "openlines.message",
        ):
            with self.subTest(model=model):
                self.assertFalse(
                    self.env[model]
                    .with_user(user)
                    .search([("create_date", "!=", False)])
                    .filtered(lambda r: r.sudo().company_id == self.company2)
                )
        self.assertFalse(self.env["openlines.report.dialog"].with_user(user).search([("dialog_id", "=", dialog.id)]))
        with self.assertRaises(AccessError):
            dialog.with_user(user).read(["name"])
        with self.assertRaises(AccessError):
            session.with_user(user).read(["name"])
        on_session = [("model", "=", "discuss.channel"), ("res_id", "=", session.id)]
        self.assertFalse(self.env["mail.message"].with_user(user).search(on_session))
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            dialog.with_user(user).action_close()
        self.assertNotEqual(dialog.state, "closed")

    def test_an_administrator_sees_the_companies_he_works_in(self):
        dialog = self.receive2(self.fixture("text"))
        Dialog = self.env["openlines.dialog"].with_user(self.admin_both)
        self.assertIn(dialog, Dialog.search([]))
        self.assertNotIn(dialog, Dialog.with_context(allowed_company_ids=self.company1.ids).search([]))
        self.assertTrue(
            dialog.discuss_channel_id.with_user(self.admin_both)
            .with_context(allowed_company_ids=self.company2.ids)
            .read(["name"])
        )

    def test_a_phone_never_ties_a_client_to_another_companys_partner(self):
        dialog2 = self.receive2(self.fixture("contact"))  # the client shares their phone with company 2
        self.assertEqual(dialog2.contact_id.phone, PHONE)
        partner2 = dialog2.partner_id
        self.assertEqual(partner2.company_id, self.company2)
        self.receive(self.fixture("contact"))  # the same phone writes to company 1's line
        dialog1 = self.dialog_of()
        self.assertTrue(dialog1)
        self.assertNotEqual(dialog1.partner_id, partner2)
        self.assertEqual(dialog1.partner_id.company_id, self.company1)
        self.assertNotIn(self.operator.partner_id, dialog2.discuss_channel_id.channel_member_ids.partner_id)

    def test_a_line_with_dialogs_keeps_its_company(self):
        self.receive2(self.fixture("text"))
        with self.assertRaises(UserError), self.env.cr.savepoint():
            self.line2.company_id = self.company1
        self.assertEqual(self.line2.company_id, self.company2)

    def test_a_site_visitor_chats_with_a_line_of_another_company(self):
        """Sessions follow their dialog's company; the anonymous visitor keeps his own session."""
        data = self.make_jsonrpc_request("/im_livechat/get_session", {"channel_id": self.line2.livechat_channel_id.id})
        session = self.env["discuss.channel"].browse(data["channel_id"])
        dialog = session.openlines_dialog_id
        self.assertEqual((dialog.line_id, dialog.company_id), (self.line2, self.company2))
        self.make_jsonrpc_request(
            "/mail/message/post",
            {
                "thread_model": "discuss.channel",
                "thread_id": session.id,
                "post_data": {"body": "Hello from the site", "message_type": "comment"},
            },
        )
        said = session.message_ids.filtered(lambda m: "Hello from the site" in (m.body or ""))
        self.assertTrue(said, "the visitor posts in his session (a company rule on sessions would answer 404)")
        self.assertEqual(said.author_guest_id, session.channel_member_ids.guest_id)
        self.assertEqual(self.env["openlines.dialog"].with_user(self.operator2).search([]), dialog)
