from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestSecurity(OpenlinesCase):
    """Tokens and secrets are for administrators; operators see their own dialogs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = new_test_user(cls.env, login="ol_other", groups="openlines_connector.group_openlines_manager")
        cls.director = new_test_user(
            cls.env, login="ol_director", groups="openlines_connector.group_openlines_director"
        )
        cls.admin = new_test_user(cls.env, login="ol_admin", groups="openlines_connector.group_openlines_admin")

    def test_only_administrators_read_credentials(self):
        for user in (self.operator, self.director):
            with self.assertRaises(AccessError):
                self.channel.with_user(user).read(["token"])
            with self.assertRaises(AccessError):
                self.channel.with_user(user).read(["webhook_secret"])
        values = self.channel.with_user(self.admin).read(["token", "webhook_secret"])[0]
        self.assertEqual(values["token"], self.fake.token)

    def test_operators_cannot_change_channels_or_lines(self):
        with self.assertRaises(AccessError):
            self.channel.with_user(self.director).write({"name": "x"})
        with self.assertRaises(AccessError):
            self.line.with_user(self.operator).write({"reopen_hours": 1})

    def test_an_operator_reads_own_dialogs_only(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        self.assertEqual(dialog.operator_id, self.operator)
        self.assertEqual(self.env["openlines.dialog"].with_user(self.operator).search([]), dialog)
        self.assertFalse(self.env["openlines.dialog"].with_user(self.other).search([]))
        with self.assertRaises(AccessError):
            dialog.with_user(self.other).read(["name"])
        self.assertFalse(self.env["openlines.message"].with_user(self.other).search([]))
        self.assertIn(dialog, self.env["openlines.dialog"].with_user(self.director).search([]))

    def test_the_token_is_never_logged(self):
        with self.assertLogs("odoo.addons.openlines_connector", level="DEBUG") as logs:
            self.receive(self.fixture("text"))
            self.post_update(self.fixture("text"), secret="forged")
            self.fake.queue_error("sendMessage", 403, "Forbidden: bot was blocked by the user")
            self.operator_reply(self.dialog_of(), "hi")
            self.send()
        self.assertTrue(logs.output)
        self.assertFalse([line for line in logs.output if self.fake.token in line])

    def test_a_supervisor_reads_the_analysis_of_supervised_lines_only(self):
        self.receive(self.fixture("text"))
        other = self.env["openlines.line"].create({"name": "Other", "supervisor_ids": [(6, 0, self.admin.ids)]})
        self.line.supervisor_ids = self.director
        dialog = self.dialog_of()
        dialog.action_transfer(line_id=other.id)  # now a dialog of a line the director does not supervise
        self.env.flush_all()
        Report = self.env["openlines.report.dialog"]
        self.assertIn(dialog.id, Report.search([]).dialog_id.ids)
        self.assertNotIn(dialog.id, Report.with_user(self.director).search([]).dialog_id.ids)
        self.assertIn(dialog.id, Report.with_user(self.admin).search([]).dialog_id.ids)
