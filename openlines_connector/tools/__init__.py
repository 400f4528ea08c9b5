from .cron_wake import notify_after_commit, trigger_sql, wake_cron

#: ``cr.cache`` key of the contacts and last dialogs an inbound batch looked up at once
#: (written by ``openlines.message._prefetch_inbound``, read by contacts and dialogs)
PREFETCH_KEY = "openlines_inbound_prefetch"
