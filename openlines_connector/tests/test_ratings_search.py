"""Ratings where managers look, the search in the text of dialogs (as each role), and the
text sent to a client nobody answered in time (issue 16)."""

from datetime import datetime, timedelta

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.mail.tests.common import freeze_all_time

from .common import SECRET, WEBHOOK, OpenlinesCase

T0 = datetime(2026, 3, 2, 10, 0, 0)  # a Monday, 10:00 UTC
KPI_CRON = "openlines_connector.ir_cron_openlines_kpi"


@tagged("post_install", "-at_install")
class TestRatingsSearchNoAnswer(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.operator_b = new_test_user(
            cls.env, login="ol_marks_b", name="Boris Operator",
            groups="base.group_user,openlines_connector.group_openlines_manager",
        )  # fmt: skip
        cls.director = new_test_user(
            cls.env, login="ol_marks_dir", name="Dina Director",
            groups="base.group_user,openlines_connector.group_openlines_director",
        )  # fmt: skip
        cls.admin = new_test_user(
            cls.env, login="ol_marks_adm", name="Adam Admin",
            groups="base.group_user,openlines_connector.group_openlines_admin",
        )  # fmt: skip
        cls.employee = new_test_user(cls.env, login="ol_marks_emp", name="Emma Employee", groups="base.group_user")
        cls.portal = new_test_user(cls.env, login="ol_marks_portal", name="Paul Portal", groups="base.group_portal")
        cls.line_b = cls.env["openlines.line"].create({"name": "Line B", "user_ids": [(6, 0, cls.operator_b.ids)]})
        cls.channel_b = cls.env["openlines.channel"].create(
            {"name": "Bot B", "line_id": cls.line_b.id, "channel_type": "telegram", "token": cls.fake.token,
             "webhook_secret": SECRET, "api_base_url": cls.fake.url}
        )  # fmt: skip

    def setUp(self):
        super().setUp()
        self.env["mail.presence"]._update_presence(self.operator_b)

    def writes_to_b(self, chat_id, text):
        type(self).next_update += 1
        self.post_update(self.text_update(self.next_update, chat_id, text), url=WEBHOOK % self.channel_b.webhook_key)
        self.process()
        return self.env["openlines.dialog"].search(
            [("contact_id.external_id", "=", str(chat_id)), ("channel_id", "=", self.channel_b.id)]
        )

    def found(self, user, words):
        Dialog = self.env["openlines.dialog"].with_user(user)
        return Dialog.search([("message_search", "ilike", words)])

    # -- search ---------------------------------------------------------------------------------
    def test_message_contains_finds_what_each_role_may_see(self):
        mine = self.client_writes(7770001, "Есть ли доставка в Тверь?")
        theirs = self.writes_to_b(7770002, "Доставка в Тверь бесплатная?")
        other = self.client_writes(7770003, "Какие часы работы?")
        self.assertEqual((mine.operator_id, theirs.operator_id), (self.operator, self.operator_b))
        self.operator_reply(other, "С 9 до 18, доставка тоже")  # an operator's words are found too
        self.assertEqual(self.found(self.operator, "доставк"), mine | other)
        self.assertEqual(self.found(self.operator_b, "ДОСТАВКА"), theirs, "a manager finds only his dialogs")
        self.assertEqual(self.found(self.director, "Тверь"), mine | theirs)
        self.assertEqual(self.found(self.admin, "тверь"), mine | theirs)
        self.assertFalse(self.found(self.admin, "самовывоз"))
        negative = (
            self.env["openlines.dialog"]
            .with_user(self.admin)
            .search([("message_search", "not ilike", "Тверь"), ("id", "in", (mine | theirs | other).ids)])
        )
        self.assertEqual(negative, other)
        for user in (self.employee, self.portal):
            with self.assertRaises(AccessError, msg=user.name):
                self.found(user, "Тверь")

    def test_message_contains_takes_the_words_literally(self):
        percent = self.client_writes(7770011, "Скидка 50% & доставка_бесплатно")
        plain = self.client_writes(7770012, "Скидка 50 рублей")
        self.assertEqual(self.found(self.admin, "50%"), percent, "% is no wildcard")
        self.assertEqual(self.found(self.admin, "% & д"), percent, "& is found though the body stores &amp;")
        self.assertEqual(self.found(self.admin, "доставка_"), percent, "_ is no wildcard")
        self.assertEqual(self.found(self.admin, "Скидка 50"), percent | plain)

    def test_the_dialogs_list_offers_the_search_and_the_rating(self):
        Dialog = self.env["openlines.dialog"].with_user(self.operator)
        views = Dialog.get_views([(False, "list"), (False, "form"), (False, "search")])["views"]
        self.assertIn('name="message_search"', views["search"]["arch"])
        self.assertIn("'group_by': 'rating_stars'", views["search"]["arch"])
        self.assertIn('name="rating_stars"', views["list"]["arch"])
        self.assertIn('name="rating_comment"', views["form"]["arch"])
        report = self.env["openlines.report.dialog"].with_user(self.director)
        views = report.get_views([(False, "pivot"), (False, "search")])["views"]
        self.assertIn('name="rating"', views["pivot"]["arch"])
        self.assertIn("'group_by': 'rating_stars'", views["search"]["arch"])

    # -- ratings ---------------------------------------------------------------------------------
    def test_ratings_on_the_dialog_and_in_the_analysis_per_operator_and_line(self):
        first = self.client_writes(7770021, "Вопрос")
        second = self.client_writes(7770022, "Ещё вопрос")
        other = self.writes_to_b(7770023, "Вопрос на линию B")
        unrated = self.client_writes(7770024, "Без оценки")
        for dialog, rate in ((first, 5), (second, 2), (other, 4)):
            dialog.sudo()._apply_rating(rate)  # as a messenger client's button press does
        unrated.sudo().rating_value = 0  # as a withdrawn site rating leaves it (_on_session_rating)
        self.assertEqual((first.rating_stars, second.rating_stars, unrated.rating_stars), ("5", "2", False))
        self.env.flush_all()  # the analysis is an SQL view over the dialogs
        Report = self.env["openlines.report.dialog"].with_user(self.director)
        ids = (first | second | other | unrated).ids
        per_operator = {
            op: (avg, rated, count)
            for op, avg, rated, count in Report._read_group(
                [("dialog_id", "in", ids)], ["operator_id"], ["rating:avg", "nbr_rated:sum", "__count"]
            )
        }
        self.assertEqual(per_operator[self.operator], (3.5, 2, 3), "the unrated dialog is no zero in the average")
        self.assertEqual(per_operator[self.operator_b], (4.0, 1, 1))
        per_line = dict(Report._read_group([("dialog_id", "in", ids)], ["line_id"], ["rating:avg"]))
        self.assertEqual((per_line[self.line], per_line[self.line_b]), (3.5, 4.0))
        distribution = dict(Report._read_group([("dialog_id", "in", ids)], ["rating_stars"], ["__count"]))
        self.assertEqual(distribution, {"5": 1, "4": 1, "2": 1, False: 1})
        listed = (
            self.env["openlines.dialog"]
            .with_user(self.operator)
            .search_read([("id", "in", ids)], ["rating_stars", "rating_value"], order="id")
        )
        self.assertEqual([r["rating_stars"] for r in listed], ["5", "2", False], "a manager sees his own ratings")

    def test_a_site_visitors_stars_and_comment_reach_the_dialog(self):
        dialog = self.client_writes(7770031, "Вопрос")
        session = dialog.discuss_channel_id
        # what im_livechat's /im_livechat/feedback stores (addons/im_livechat/controllers/main.py)
        rating = self.env["rating.rating"].sudo().create(
            {"res_model_id": self.env["ir.model"]._get_id("discuss.channel"), "res_id": session.id,
             "rating": 3, "feedback": "Долго ждал ответа", "consumed": True, "is_internal": False}
        )  # fmt: skip
        self.assertEqual((dialog.rating_value, dialog.rating_stars, dialog.rating_comment),
                         (3, "3", "Долго ждал ответа"))  # fmt: skip
        rating.write({"rating": 5, "feedback": "Всё решили"})  # the visitor changes his mind
        self.assertEqual((dialog.rating_stars, dialog.rating_comment), ("5", "Всё решили"))

    # -- the no-answer text ------------------------------------------------------------------------
    def test_no_answer_text_is_sent_once_per_missed_limit_in_the_clients_language(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.line.write({"kpi_first_response_limit": 10, "kpi_next_response_limit": 5, "client_lang_id": False})
        self.line.with_context(lang="en_US").noanswer_message = "Sorry for the wait: we answer very soon."
        self.line.with_context(lang="ru_RU").noanswer_message = "Извините за ожидание: скоро ответим."
        self.line.client_lang_id = self.env.ref("base.lang_ru")
        self.env.ref(KPI_CRON).nextcall = T0 + timedelta(days=30)
        with freeze_all_time(T0):
            dialog = self.client_writes(7770041, "Алло?")
        with freeze_all_time(T0 + timedelta(minutes=9)):
            self.run_cron(KPI_CRON)
        self.assertFalse(self.texts_to_client(dialog), "not late yet")
        with freeze_all_time(T0 + timedelta(minutes=11)):
            self.run_cron(KPI_CRON)
            self.run_cron(KPI_CRON)
        self.assertEqual(self.texts_to_client(dialog), ["Извините за ожидание: скоро ответим."])
        self.assertEqual(dialog.kpi_response_count, 0, "the line's text is no answer")
        with freeze_all_time(T0 + timedelta(minutes=12)):
            self.send()
        self.assertIn("Извините за ожидание: скоро ответим.", [c["text"] for c in self.fake.calls_of("sendMessage")])
        with freeze_all_time(T0 + timedelta(minutes=13)):
            self.operator_reply(dialog, "Здравствуйте!")
        with freeze_all_time(T0 + timedelta(minutes=14)):
            self.client_writes(7770041, "А доставка?")
        with freeze_all_time(T0 + timedelta(minutes=20)):
            self.run_cron(KPI_CRON)
        self.assertEqual(len(self.texts_to_client(dialog)), 2, "the next missed limit: once more")

    def test_no_text_when_the_line_has_none(self):
        self.line.write({"kpi_first_response_limit": 10, "noanswer_message": False})
        self.env.ref(KPI_CRON).nextcall = T0 + timedelta(days=30)
        with freeze_all_time(T0):
            dialog = self.client_writes(7770051, "Алло?")
        with freeze_all_time(T0 + timedelta(minutes=11)):
            self.run_cron(KPI_CRON)
        self.assertTrue(dialog.is_late)
        self.assertFalse(self.texts_to_client(dialog))

    def texts_to_client(self, dialog):
        """OdooBot's comments in the session other than the line's usual texts: what went to the client."""
        odoobot = self.env.ref("base.partner_root")
        messages = dialog.discuss_channel_id.message_ids.filtered(
            lambda m: m.author_id == odoobot and m.message_type == "comment"
        ).sorted("id")
        usual = {self.line.welcome_message, self.line.queue_message} - {False}
        return [m.preview for m in messages if m.preview not in usual]
