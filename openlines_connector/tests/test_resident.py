"""The processing cron under a steady flow (issue 17): claims sized for latency without a backlog, the helper
jobs woken for the conversations left, and the main job's wait ending when another cron job waits.

The main job's stay itself (it claims messages that arrive during its run) needs a real cron worker:
``tests/test_e2e_parallel.py::test_a_steady_flow_is_claimed_by_the_running_job``.
"""

import time
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..models.openlines_message import BATCH, INBOUND_HELPERS, INBOUND_MAIN, OTHERS_WAIT, SMALL_CLAIM, _Resident
from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestResident(OpenlinesCase):
    def ingest(self, count, first_chat):
        """``count`` first messages of as many chats, in one request each (as the webhook stores them)."""
        for i in range(count):
            update = self.text_update(first_chat + i, chat_id=first_chat + i, text=f"m{i}")
            self.channel._ingest([(str(update["update_id"]), update)])
        self.env.flush_all()
        return self.rows()

    def test_without_a_backlog_a_worker_leaves_the_other_conversations_to_the_others(self):
        """20 conversations due (under a full batch): a worker takes the oldest SMALL_CLAIM of them, so that
        another worker takes the rest at once instead of waiting for the whole batch."""
        rows = self.ingest(SMALL_CLAIM + 8, 71000)
        Message = self.env["openlines.message"]
        first = Message._claim_conversations()
        self.assertEqual(first, rows.sorted("id")[:SMALL_CLAIM])
        first._start_attempts()  # that worker is on them (its attempts committed)
        second = Message._claim_conversations()
        self.assertEqual(second, rows.sorted("id")[SMALL_CLAIM:], "the next worker takes the others")

    def test_a_backlog_is_claimed_in_full_batches(self):
        """A backlog (a full batch or more due): full batches, for the throughput."""
        rows = self.ingest(BATCH + 5, 72000)
        self.assertEqual(self.env["openlines.message"]._claim_conversations(), rows.sorted("id")[:BATCH])

    def test_a_claim_that_leaves_conversations_wakes_the_helpers(self):
        """A worker that took every due conversation wakes nobody; one that left some wakes the helper jobs."""
        helpers = self.env.ref(INBOUND_HELPERS[0]) | self.env.ref(INBOUND_HELPERS[1])
        Trigger = self.env["ir.cron.trigger"]
        self.ingest(SMALL_CLAIM, 73000)
        self.process()
        self.assertFalse(Trigger.search([("cron_id", "in", helpers.ids)]), "one worker took them all: no helper")
        self.ingest(SMALL_CLAIM + 1, 73100)
        self.process()
        self.assertEqual(Trigger.search([("cron_id", "in", helpers.ids)]).cron_id, helpers)
        self.assertEqual(set(self.rows().mapped("state")), {"done"})

    def test_the_wait_ends_when_another_cron_job_waits(self):
        """The main job stays for new messages only while no other cron job waits for a worker (a server with
        one cron worker still sends and routes): its own jobs' triggers do not count, nor a job due just now
        (a free worker takes it)."""
        now = fields.Datetime.now()
        self.env["ir.cron"].search([]).write({"nextcall": now + timedelta(hours=1)})
        self.env["ir.cron.trigger"].search([]).unlink()
        self.env["ir.cron.progress"].search([]).unlink()
        mine = [self.env.ref(xmlid).id for xmlid in (INBOUND_MAIN, *INBOUND_HELPERS)]

        def others_waiting():
            self.env.flush_all()
            return _Resident(self.env, time.monotonic() + 10, mine, helper=False)._others_waiting()

        self.assertFalse(others_waiting())
        old = now - timedelta(seconds=OTHERS_WAIT + 5)
        for cron_id in mine:
            self.env["ir.cron"].browse(cron_id)._trigger(old)
        self.assertFalse(others_waiting(), "the processing jobs' own triggers")
        send = self.env.ref("openlines_connector.ir_cron_openlines_send")
        send._trigger(now)
        self.assertFalse(others_waiting(), "due just now: a free cron worker takes it")
        send._trigger(old)
        self.assertTrue(others_waiting(), "the sending cron waits")
        progress = self.env["ir.cron.progress"].create({"cron_id": send.id})  # a worker started it (now)
        self.assertFalse(others_waiting(), "a job another worker runs does not wait")
        progress.unlink()
        self.env["ir.cron.trigger"].search([]).unlink()
        self.env.ref("openlines_connector.ir_cron_openlines_route").nextcall = old
        self.assertTrue(others_waiting(), "the routing cron's time came and went")

    def test_a_staying_job_files_a_few_leads_between_its_claims(self):
        """New dialogs' leads are filed a few at a time by a job that stays (new messages are claimed in
        between, not after a whole backlog of leads); the cron's other callers file them all."""
        rows = self.ingest(3, 74000)
        for row in rows:
            row._process_inbound()
        dialogs = rows.dialog_id
        self.assertEqual(dialogs.mapped("lead_queued"), [True] * 3)

        def file_leads():  # in a cursor of its own, as a cron run (it commits)
            self.env.flush_all()
            with self.env.registry.cursor() as cr:
                more = self.env(cr=cr)["openlines.dialog"]._file_queued_leads(limit=2)
            self.env.invalidate_all()
            return more

        self.assertTrue(file_leads(), "more may be queued")
        self.assertEqual(sorted(dialogs.mapped("lead_queued")), [False, False, True])
        self.assertFalse(file_leads(), "the last one: nothing more")
        self.assertFalse(any(dialogs.mapped("lead_queued")))
        self.assertEqual(len(dialogs.lead_id), 3)
