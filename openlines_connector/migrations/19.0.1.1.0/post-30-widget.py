"""19.0.1.1.0, issue 16: the line governs the site widget; the chatbot's time is reported apart.

- Every line lists its operators in order (``openlines.line.operator``), in step with the live-chat
  channel's agents: a line that had agents but no ordered list gets one (agents in id order).
- ``bot_time`` (time with the chatbot): a dialog the chatbot handed over before the upgrade gets
  the time from its start to the hand-over notice; a dialog still with the bot starts its bot
  clock (``kpi_bot_since``) at its creation and waits for no operator yet (no deadline).
  The first response of old dialogs stays as measured.
"""

import logging

_logger = logging.getLogger(__name__)

HAND_OVER = "%The chatbot handed the dialog over to the operators.%"


def _operator_rows(cr):
    cr.execute(
        """INSERT INTO openlines_line_operator
                  (line_id, user_id, sequence, create_uid, create_date, write_uid, write_date)
           SELECT l.id, a.user_id, 10 + row_number() OVER (PARTITION BY l.id ORDER BY a.user_id), 1, now(), 1, now()
             FROM openlines_line l
             JOIN im_livechat_channel_im_user a ON a.channel_id = l.livechat_channel_id
            WHERE NOT EXISTS (SELECT 1 FROM openlines_line_operator o WHERE o.line_id = l.id)"""
    )
    _logger.info("Open Lines: %s operators listed in order on lines that had agents only", cr.rowcount)


def _bot_time(cr):
    cr.execute(
        """UPDATE openlines_dialog d SET bot_time = GREATEST(EXTRACT(EPOCH FROM (h.date - d.create_date)), 0)
             FROM (SELECT res_id, min(date) AS date FROM mail_message
                    WHERE model = 'discuss.channel' AND message_type = 'notification' AND body LIKE %s
                    GROUP BY res_id) h
            WHERE h.res_id = d.discuss_channel_id AND COALESCE(d.bot_time, 0) = 0""",
        (HAND_OVER,),
    )
    handed = cr.rowcount
    # with the bot the client waits for no operator: no wait, no deadline until the hand-over
    cr.execute(
        """UPDATE openlines_dialog SET kpi_bot_since = COALESCE(kpi_bot_since, create_date),
                  kpi_waiting_since = NULL, kpi_deadline = NULL
            WHERE state = 'bot'"""
    )
    _logger.info("Open Lines: time with the chatbot of %s dialogs; %s still with the bot", handed, cr.rowcount)


def migrate(cr, version):
    if not version:
        return
    _operator_rows(cr)
    _bot_time(cr)
