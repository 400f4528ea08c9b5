from odoo.exceptions import AccessError
from odoo.tests import JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from .common import OpenlinesCase

MANAGER = "openlines_connector.group_openlines_manager"
DIRECTOR = "openlines_connector.group_openlines_director"
ADMIN = "openlines_connector.group_openlines_admin"

#: what each role may do on each model (on a record it can see): read, write, create, unlink
RIGHTS = {
    "norole": {},
    "manager": {
        "openlines.line": "r",
        "openlines.contact": "rw",
        "openlines.dialog": "rw",
        "openlines.message": "r",
    },
    "director": {
        "openlines.line": "r",
        "openlines.channel": "r",
        "openlines.contact": "rw",
        "openlines.dialog": "rw",
        "openlines.message": "r",
    },
    "admin": dict.fromkeys(
        ("openlines.line", "openlines.channel", "openlines.contact", "openlines.dialog", "openlines.message"), "rwcu"
    ),
}


@tagged("post_install", "-at_install")
class TestRoles(OpenlinesCase):
    """Manager, director, administrator (and a user with no role), through ``with_user`` as RPC does."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = cls.operator
        cls.other = new_test_user(cls.env, login="ol_other_manager", groups=MANAGER)
        cls.director = new_test_user(cls.env, login="ol_role_director", groups=DIRECTOR)
        cls.admin = new_test_user(cls.env, login="ol_role_admin", groups=ADMIN)
        cls.norole = new_test_user(cls.env, login="ol_no_role", groups="base.group_user")
        cls.line.user_ids = [(4, cls.other.id)]
        cls.users = {"norole": cls.norole, "manager": cls.manager, "director": cls.director, "admin": cls.admin}

    def setUp(self):
        super().setUp()
        self.receive(self.fixture("text"))  # the manager's dialog
        self.mine = self.dialog_of()
        self.assertEqual(self.mine.operator_id, self.manager)
        self.env["mail.presence"].search([("user_id", "=", self.manager.id)]).unlink()
        update = self.fixture("reply", 20001)
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 2222222
        self.receive(update)  # queued: nobody online
        self.theirs = self.dialog_of("2222222")
        self.theirs.action_take_as(self.other)

    # -- helpers -------------------------------------------------------------
    def records(self):
        """One existing record per model, visible to its manager."""
        return {
            "openlines.line": self.line,
            "openlines.channel": self.channel,
            "openlines.contact": self.mine.contact_id,
            "openlines.dialog": self.mine,
            "openlines.message": self.rows()[0],
        }

    def create_values(self):
        # a site-chat dialog's session: a live-chat session of the line (a dialog's conversation is one)
        session = self.bare_session(self.manager.partner_id)
        return {
            "openlines.line": {"name": "Empty line"},
            "openlines.channel": {"name": "New bot", "line_id": self.line.id, "api_base_url": self.fake.url},
            "openlines.contact": {
                "name": "New",
                "channel_id": self.channel.id,
                "external_id": "999",
                "partner_id": self.mine.partner_id.id,
            },
            "openlines.dialog": {"name": "New", "line_id": self.line.id, "discuss_channel_id": session.id},
            "openlines.message": {"channel_id": self.channel.id, "direction": "out", "dialog_id": self.mine.id},
        }

    WRITE = {
        "openlines.line": {"reopen_hours": 5},
        "openlines.channel": {"name": "Renamed bot"},
        "openlines.contact": {"username": "renamed"},
        "openlines.dialog": {"name": "Renamed"},
        "openlines.message": {"last_error": "x"},
    }

    def attempt(self, operation, user, model, record, values):
        """Run ``operation`` as ``user``; True when allowed, False on AccessError (rolled back)."""
        Model = self.env[model].with_user(user)
        with self.env.cr.savepoint(flush=False) as savepoint:
            try:
                if operation == "read":
                    record.with_user(user).read(["display_name"])
                elif operation == "search_read":
                    found = [r["id"] for r in Model.search_read([("id", "=", record.id)], ["id"])]
                    self.assertEqual(found, record.ids, f"{user.login} finds the {model} record")
                elif operation == "read_group":
                    Model.formatted_read_group([], ["create_uid"], ["__count"])
                elif operation == "write":
                    record.with_user(user).write(self.WRITE[model])
                elif operation == "create":
                    Model.create(values)
                elif operation == "unlink":
                    # sudo: a fresh record, with nothing depending on it
                    self.env[model].sudo().create(values).with_user(user).unlink()
                self.env.flush_all()
                return True
            except AccessError:
                return False
            finally:
                savepoint.rollback()

    # -- the matrix ----------------------------------------------------------
    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule", "odoo.addons.base.models.ir_model")
    def test_each_role_on_each_model(self):
        """read, write, create, unlink, search_read and read_group of every model, for every role."""
        values = self.create_values()
        letters = {"read": "r", "search_read": "r", "read_group": "r", "write": "w", "create": "c", "unlink": "u"}
        for role, user in self.users.items():
            for model, record in self.records().items():
                rights = RIGHTS[role].get(model, "")
                for operation, letter in letters.items():
                    with self.subTest(role=role, model=model, operation=operation):
                        allowed = self.attempt(operation, user, model, record, values[model])
                        self.assertEqual(allowed, letter in rights)

    # -- managers ------------------------------------------------------------
    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_manager_cannot_read_another_managers_dialog(self):
        Dialog = self.env["openlines.dialog"].with_user(self.manager)
        self.assertEqual(Dialog.search([]), self.mine)
        self.assertNotIn(self.theirs.id, [r["id"] for r in Dialog.search_read([], ["id"])])
        groups = Dialog.formatted_read_group([], ["operator_id"], ["__count"])
        self.assertEqual([g["operator_id"][0] for g in groups], [self.manager.id])
        with self.assertRaises(AccessError):
            self.theirs.with_user(self.manager).read(["name"])
        with self.assertRaises(AccessError):
            self.theirs.with_user(self.manager).write({"name": "x"})
        with self.assertRaises(AccessError):
            self.theirs.contact_id.with_user(self.manager).read(["name", "phone"])
        self.assertFalse(
            self.env["openlines.message"].with_user(self.manager).search([("dialog_id", "=", self.theirs.id)])
        )

    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_manager_cannot_read_another_managers_session_or_its_messages(self):
        session = self.theirs.discuss_channel_id
        self.assertTrue(self.client_messages(self.theirs))
        with self.assertRaises(AccessError):
            session.with_user(self.manager).read(["name"])
        self.assertFalse(self.env["discuss.channel"].with_user(self.manager).search([("id", "=", session.id)]))
        Message = self.env["mail.message"].with_user(self.manager)
        self.assertFalse(Message.search_read([("model", "=", "discuss.channel"), ("res_id", "=", session.id)]))
        self.assertFalse(Message.search([("id", "in", session.message_ids.ids)]))
        with self.assertRaises(AccessError):
            session.message_ids[:1].with_user(self.manager).read(["body"])
        # the dialog's own chatter (tracking) follows the dialog's rule
        self.assertFalse(Message.search([("model", "=", "openlines.dialog"), ("res_id", "=", self.theirs.id)]))

    @mute_logger("odoo.http", "odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_manager_reads_no_other_session_over_rpc(self):
        """The same checks through the web client's routes, as a browser would call them."""
        self.authenticate(self.manager.login, self.manager.login)
        other_session, own_session = self.theirs.discuss_channel_id, self.mine.discuss_channel_id
        kwargs = {"domain": [("model", "=", "discuss.channel"), ("res_id", "=", other_session.id)], "fields": ["body"]}
        params = {"model": "mail.message", "method": "search_read", "args": [], "kwargs": kwargs}
        self.assertEqual(self.make_jsonrpc_request("/web/dataset/call_kw/mail.message/search_read", params), [])
        with self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request("/discuss/channel/messages", {"channel_id": other_session.id})
        own = self.make_jsonrpc_request("/discuss/channel/messages", {"channel_id": own_session.id})
        self.assertTrue(own["messages"])
        # Discuss starts with the manager's own sessions, and only those
        data = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["init_messaging", "channels_as_member"]})
        channel_ids = {channel["id"] for channel in data.get("discuss.channel", [])}
        self.assertIn(own_session.id, channel_ids)
        self.assertNotIn(other_session.id, channel_ids)
        params = {
            "model": "openlines.dialog",
            "method": "web_search_read",
            "args": [],
            "kwargs": {"domain": [], "specification": {"name": {}}},
        }
        records = self.make_jsonrpc_request("/web/dataset/call_kw/openlines.dialog/web_search_read", params)["records"]
        self.assertEqual([r["id"] for r in records], self.mine.ids)

    def test_a_manager_works_in_discuss_on_own_dialogs(self):
        self.assertFalse(self.manager.has_group("im_livechat.im_livechat_group_user"))
        session = self.mine.discuss_channel_id.with_user(self.manager)
        self.assertTrue(session.read(["name"]))
        bodies = (
            self.env["mail.message"]
            .with_user(self.manager)
            .search_read([("model", "=", "discuss.channel"), ("res_id", "=", session.id)], ["body"])
        )
        self.assertTrue(bodies)
        self.operator_reply(self.mine, "Здравствуйте!")
        self.assertEqual(self.mine.state, "answered")

    def test_a_manager_sees_and_takes_the_queue_of_own_lines(self):
        update = self.fixture("reply", 20002)
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 3333333
        self.receive(update)
        queued = self.dialog_of("3333333")
        self.assertEqual(queued.state, "queued")
        self.assertIn(queued, self.env["openlines.dialog"].with_user(self.manager).search([]))
        queued.with_user(self.manager).action_take()
        self.assertEqual(queued.operator_id, self.manager)

    # -- directors and administrators -----------------------------------------
    @mute_logger("odoo.http", "odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_director_reads_every_dialog_and_its_session(self):
        """The session's messages, not only its name: by ORM and through Discuss's own route."""
        Dialog = self.env["openlines.dialog"].with_user(self.director)
        self.assertEqual(Dialog.search([("line_id", "=", self.line.id)]), self.mine | self.theirs)
        session, said = self.theirs.discuss_channel_id, self.client_messages(self.theirs)
        self.assertTrue(said)
        on_session = [("model", "=", "discuss.channel"), ("res_id", "=", session.id)]
        self.assertLessEqual(said, self.env["mail.message"].with_user(self.director).search(on_session))
        self.assertEqual(said.with_user(self.director).read(["body"])[0]["body"], said[0].body)
        self.authenticate(self.director.login, self.director.login)
        route = self.make_jsonrpc_request("/discuss/channel/messages", {"channel_id": session.id})
        self.assertLessEqual(set(said.ids), set(route["messages"]))  # the route answers message ids
        # once the line names its supervisors, a director who is not one of them reads none of it
        elsewhere = new_test_user(self.env, login="ol_role_director_elsewhere", groups=DIRECTOR)
        self.line.supervisor_ids = self.director
        self.assertFalse(self.env["mail.message"].with_user(elsewhere).search(on_session))
        with self.assertRaises(AccessError):
            said[:1].with_user(elsewhere).read(["body"])
        self.authenticate(elsewhere.login, elsewhere.login)
        with self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request("/discuss/channel/messages", {"channel_id": session.id})
        self.assertEqual(said.with_user(self.director).read(["body"])[0]["body"], said[0].body)
        self.theirs.with_user(self.director).action_close()
        self.assertEqual(self.theirs.state, "closed")

    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_a_line_with_supervisors_is_read_by_its_supervisors_only(self):
        other_director = new_test_user(self.env, login="ol_other_director", groups=DIRECTOR)
        self.line.supervisor_ids = self.director
        for model, record in self.records().items():
            with self.subTest(model=model):
                self.assertTrue(record.with_user(self.director).read(["display_name"]))
                with self.assertRaises(AccessError):
                    record.with_user(other_director).read(["display_name"])
        self.assertTrue(self.mine.with_user(self.admin).read(["name"]), "administrators read every line")
        self.assertTrue(self.mine.with_user(self.manager).read(["name"]), "operators keep their dialogs")
        # and the Discuss sessions with their messages, despite im_livechat's "read every session" rule
        session = self.theirs.discuss_channel_id
        for user in (self.director, self.admin, self.other):
            self.assertTrue(session.with_user(user).read(["name"]), user.login)
        with self.assertRaises(AccessError):
            session.with_user(other_director).read(["name"])
        Message = self.env["mail.message"].with_user(other_director)
        self.assertFalse(Message.search([("model", "=", "discuss.channel"), ("res_id", "=", session.id)]))
        self.assertFalse(self.env["discuss.channel"].with_user(other_director).search([("id", "=", session.id)]))

    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_only_administrators_read_channel_secrets(self):
        for user in (self.norole, self.manager, self.director):
            for fname in ("token", "webhook_secret", "webhook_key", "webhook_url", "poll_offset"):
                with self.subTest(user=user.login, field=fname), self.assertRaises(AccessError):
                    self.channel.with_user(user).read([fname])
            with self.assertRaises(AccessError):
                self.env["openlines.channel"].with_user(user).search_read([], ["token"])
        self.assertEqual(self.channel.with_user(self.admin).read(["token"])[0]["token"], self.fake.token)

    def test_roles_imply_each_other(self):
        self.assertTrue(self.admin.has_group(DIRECTOR) and self.admin.has_group(MANAGER))
        self.assertTrue(self.director.has_group(MANAGER))
        self.assertTrue(self.director.has_group("im_livechat.im_livechat_group_user"))
        self.assertTrue(self.admin.has_group("im_livechat.im_livechat_group_manager"))
        self.assertFalse(self.norole.has_group(MANAGER))
