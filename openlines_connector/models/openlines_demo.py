"""Demo data that shows what the product is for (loaded with demo data only).

The conversations go through the same code as real ones (contact, partner,
Discuss session, operator, KPI hooks, rating), then their clock is set back
to a realistic timeline: each message gets its own time, and the dialog's
response-time figures are those of that timeline.  Nothing is sent to any
messenger: the demo channels carry placeholder credentials.
"""

from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

#: (channel xmlid, chat id, client name, operator xmlid or None, state, rating, rating comment,
#:  days ago, [(minutes from the start, "client" | "operator", text)])
SHOWCASE = [
    (
        "demo_channel_telegram",
        "1000001",
        "Иван Петров",
        "base.user_admin",
        "closed",
        5,
        "Быстро и по делу!",
        6,
        [
            (0, "client", "Здравствуйте! Есть ли доставка в Казань?"),
            (2, "operator", "Добрый день, Иван! Да, доставляем за 2–3 дня, бесплатно от 5 000 ₽."),
            (5, "client", "Отлично, тогда оформлю заказ сегодня."),
            (7, "operator", "Будем ждать! Если что — пишите сюда."),
        ],
    ),
    (
        "demo_channel_telegram",
        "1000002",
        "Maria Smirnova",
        "base.user_demo",
        "answered",
        0,
        "",
        0,
        [
            (0, "client", "Hi! Do you have the blue jacket in size M?"),
            (4, "operator", "Hello Maria! Yes, two left in M. Shall I reserve one for you?"),
        ],
    ),
    (
        "demo_channel_vk",
        "2000003",
        "Олег Кузнецов",
        "base.user_admin",
        "closed",
        2,
        "Долго ждал ответа",
        5,
        [
            (0, "client", "Можно счёт на юрлицо?"),
            (1, "client", "Нужно до конца дня."),
            (26, "operator", "Извините за ожидание! Пришлите реквизиты — выставим сегодня."),
            (30, "client", "ООО «Ромашка», ИНН 7701234567."),
            (33, "operator", "Счёт отправили на почту, проверьте, пожалуйста."),
        ],
    ),
    (
        "demo_channel_whatsapp",
        "79161234567",
        "Анна Соколова",
        "base.user_demo",
        "closed",
        4,
        "",
        3,
        [
            (0, "client", "Добрый вечер, вы работаете в выходные?"),
            (6, "operator", "Здравствуйте, Анна! Да, по субботам с 10 до 16."),
            (9, "client", "Спасибо!"),
        ],
    ),
    (
        "demo_channel_whatsapp",
        "79169876543",
        "Pavel Orlov",
        "base.user_admin",
        "assigned",
        0,
        "",
        1,
        [
            (0, "client", "Hello, my order 4711 has not arrived yet."),
            (3, "operator", "Hi Pavel, let me check with the warehouse."),
            (9, "client", "Any news?"),
        ],
    ),
    (
        "demo_channel_vk",
        "2000006",
        "Светлана",
        None,
        "queued",
        0,
        "",
        0,
        [
            (0, "client", "Подскажите, есть ли подарочные сертификаты?"),
        ],
    ),
    (
        "demo_channel_telegram",
        "1000007",
        "Дмитрий Волков",
        "base.user_demo",
        "closed",
        5,
        "Спасибо за помощь",
        2,
        [
            (0, "client", "Как вернуть товар?"),
            (3, "operator", "Дмитрий, оформите возврат в личном кабинете — курьер заберёт бесплатно."),
            (4, "client", "Получилось, спасибо!"),
            (5, "operator", "Рады помочь!"),
        ],
    ),
]


class OpenlinesDialog(models.Model):
    _inherit = "openlines.dialog"

    @api.model
    def _demo_showcase(self):
        """Dialogs from several messengers with real response times, a late one and rated ones."""
        from ..connectors.base import InboundEvent  # noqa: PLC0415

        now = fields.Datetime.now().replace(second=0, microsecond=0)
        for xmlid, chat_id, name, operator_ref, state, rating, comment, days_ago, messages in SHOWCASE:
            channel = self.env.ref(f"openlines_connector.{xmlid}")
            operator = self.env.ref(operator_ref) if operator_ref else None
            event = InboundEvent(kind="message", chat_id=chat_id, user_id=chat_id, name=name)
            contact = self.env["openlines.contact"]._get_or_create(channel, event)
            dialog = self._create_for_contact(contact)
            if operator and dialog.operator_id != operator:
                dialog.action_take_as(operator)
            # within the current month, where the analysis opens (its default filter)
            month_start = now.replace(day=1, hour=0, minute=0)
            start = max(now - timedelta(days=days_ago, hours=2 + len(chat_id) % 5), month_start)
            start = min(start, now - timedelta(minutes=60))
            session = dialog.discuss_channel_id.with_context(openlines_inbound=True)
            timeline = []
            for minute, who, text in messages:
                author = contact.partner_id if who == "client" else (operator or self.env.user).partner_id
                message = session.message_post(
                    author_id=author.id, body=text, message_type="comment", subtype_xmlid="mail.mt_comment"
                )
                timeline.append((message, start + timedelta(minutes=minute), who, author))
            for message, when, _who, _author in timeline:
                self.env.cr.execute(
                    SQL("UPDATE mail_message SET date = %s, create_date = %s WHERE id = %s", when, when, message.id)
                )
            dialog._demo_set_figures(start, timeline, state, rating, comment)
        self.env.invalidate_all()

    def _demo_set_figures(self, start, timeline, state, rating, comment):
        """Give the dialog the figures of its timeline (as the KPI hooks would have, message by message)."""
        self.ensure_one()
        first_limit = timedelta(minutes=self.line_id.kpi_first_response_limit or 0)
        next_limit = timedelta(minutes=self.line_id.kpi_next_response_limit or 0)
        waiting, responses, partners, late = None, [], [], 0
        clients = answers = 0
        for _message, when, who, author in timeline:
            if who == "client":
                clients += 1
                waiting = waiting or when
                continue
            answers += 1
            if author not in partners:
                partners.append(author)
            if waiting:
                limit = first_limit if not responses else next_limit
                if limit and when - waiting > limit:
                    late += 1
                responses.append((when - waiting).total_seconds())
                waiting = None
        last = timeline[-1][1]
        if state == "closed":
            waiting = None  # a closed dialog waits for nothing
        self.env.flush_all()  # the hooks' pending writes go first: the timeline's figures win
        vals = {
            "create_date": start,
            "state": state,
            "date_last_client": max((w for _m, w, who, _a in timeline if who == "client"), default=None),
            "date_last_answer": max((w for _m, w, who, _a in timeline if who != "client"), default=None),
            "date_closed": last + timedelta(minutes=3) if state == "closed" else None,
            "first_response_time": responses[0] if responses else 0.0,
            "avg_response_time": sum(responses) / len(responses) if responses else 0.0,
            "total_response_time": sum(responses),
            "max_response_time": max(responses, default=0.0),
            "kpi_response_count": len(responses),
            "kpi_client_message_count": clients,
            "kpi_answer_count": answers,
            "kpi_first_answer_partner_id": partners[0].id if partners else None,
            "kpi_waiting_since": waiting,
            "kpi_deadline": waiting + (first_limit if not responses else next_limit) if waiting else None,
            "is_late": bool(late),
            "kpi_late_count": late,
        }
        assignments = SQL(", ").join(SQL("%s = %s", SQL.identifier(name), value) for name, value in vals.items())
        self.env.cr.execute(SQL("UPDATE openlines_dialog SET %s WHERE id = %s", assignments, self.id))
        if partners:
            self.env.cr.execute(
                SQL(
                    "INSERT INTO openlines_dialog_answer_partner_rel (dialog_id, partner_id) "
                    "SELECT %s, unnest(%s::int[]) ON CONFLICT DO NOTHING",
                    self.id,
                    [p.id for p in partners],
                )
            )
        session = self.discuss_channel_id.sudo()
        if vals["date_closed"]:
            session.livechat_end_dt = vals["date_closed"]  # through the ORM: the session's status follows
            # what closing sent (the rating request) went out back then
            self.env.flush_all()
            self.env.cr.execute(
                SQL(
                    """WITH sent AS (
                           UPDATE openlines_message SET state = 'done', create_date = %(at)s, write_date = %(at)s
                            WHERE dialog_id = %(dialog)s AND direction = 'out' AND state = 'pending'
                        RETURNING mail_message_id)
                       UPDATE mail_message SET date = %(at)s, create_date = %(at)s
                        WHERE id IN (SELECT mail_message_id FROM sent)""",
                    at=vals["date_closed"],
                    dialog=self.id,
                )
            )
        self.env.cr.execute(SQL("UPDATE discuss_channel SET create_date = %s WHERE id = %s", start, session.id))
        if rating:
            token = session._rating_get_access_token(self.partner_id)
            session.rating_apply(rating, token=token, feedback=comment or False)
            self.env.cr.execute(
                SQL(
                    "UPDATE openlines_dialog SET rating_requested = TRUE, rating_value = %s WHERE id = %s",
                    rating,
                    self.id,
                )
            )
