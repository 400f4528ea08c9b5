"""Outbound fetches only where they belong (issue 18) and never longer or larger than allowed (issue 19).

The addon downloads URLs that unsigned webhooks (OK, Avito) put in its hands:
no loopback, private, link-local or multicast address (after DNS, on every
redirect hop), no other scheme, a byte cap while streaming, a total deadline.
The fakes here are reachable only because they registered themselves
(``fetch.allow_test_origin``); an unregistered loopback server stands for the
company's internal services.
"""

import logging
import time
from unittest.mock import patch

import requests

from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..connectors import fetch, viber
from ..connectors.base import FileNotDownloaded, FileTooLarge, InboundFile, download_url, get_connector
from ..connectors.telegram import TelegramConnector
from ..controllers.webhook import redact
from .common import OpenlinesCase
from .fake_tarpit import FakeTarpit

QUIET = ("odoo.addons.openlines_connector.connectors.base",)


@tagged("post_install", "-at_install")
class TestFetchGuard(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeTarpit(every=0.5).start()  # registered: the test-only allowance
        cls.addClassCleanup(cls.fake.stop)
        cls.internal = FakeTarpit().start()  # an internal service: not registered
        fetch.forbid_test_origin(cls.internal.url)
        cls.addClassCleanup(cls.internal.stop)

    def setUp(self):
        super().setUp()
        self.fake.hits.clear()
        self.internal.hits.clear()

    def test_refuses_non_public_addresses(self):
        for ip in (
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "169.254.169.254",  # cloud metadata
            "fe80::1",
            "100.64.0.1",  # carrier-grade NAT
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "240.0.0.1",
        ):
            with self.subTest(ip=ip), self.assertRaises(fetch.AddressRefused):
                fetch.check_address(ip, 80)
        fetch.check_address("93.184.216.34", 443)  # a public address passes
        fetch.check_address("2606:2800:220:1:248:1893:25c8:1946", 443)

    def test_refuses_other_schemes(self):
        for url in ("file:///etc/passwd", "ftp://example.com/a", "gopher://127.0.0.1:70/", "data:,x"):
            with self.subTest(url=url), self.assertRaises(fetch.AddressRefused):
                fetch.safe_get(url, 1000)

    def test_loopback_by_name_or_address_is_refused_unless_registered(self):
        port = self.internal.url.rsplit(":", 1)[1]
        for url in (f"http://127.0.0.1:{port}/file/a", f"http://localhost:{port}/file/a"):
            with self.subTest(url=url), self.assertRaises(fetch.AddressRefused):
                fetch.safe_get(url, 1000)
        self.assertEqual(sum(self.internal.hits.values()), 0, "not even a connection reached it")
        status, body = fetch.safe_get(self.fake.url_of("file", size=10), 1000)  # the registered fake
        self.assertEqual((status, body), (200, b"x" * 10))

    def test_redirect_to_an_internal_address_is_refused_at_the_hop(self):
        inside = self.internal.url_of("file", size=10)
        with self.assertRaises(fetch.AddressRefused):
            fetch.safe_get(self.fake.url_of("redirect", to=inside), 1000)
        self.assertEqual(self.fake.hits["redirect"], 1)
        self.assertEqual(sum(self.internal.hits.values()), 0)
        status, body = fetch.safe_get(self.fake.url_of("redirect", to=self.fake.url_of("file", size=5)), 1000)
        self.assertEqual((status, body), (200, b"xxxxx"), "a redirect to an allowed address is followed")
        with self.assertRaises(fetch.AddressRefused):
            fetch.safe_get(self.fake.url_of("redirect", to="file:///etc/passwd"), 1000)

    def test_tarpit_is_cut_at_the_total_deadline(self):
        """One byte every 0.5 s: every read succeeds, only a total deadline stops it."""
        started = time.monotonic()
        with self.assertRaises(fetch.FetchTimeout):
            fetch.safe_get(self.fake.url_of("slow", size=100, every=0.5), 10_000, deadline=2)
        self.assertLess(time.monotonic() - started, 3.5)

    def test_body_is_capped_while_streaming_without_a_length(self):
        with self.assertRaises(fetch.FetchTooLarge):
            fetch.safe_get(self.fake.url_of("big", size=8 * 1024 * 1024), 256 * 1024)
        with self.assertRaises(fetch.FetchTooLarge):  # announced: refused before reading
            fetch.safe_get(self.fake.url_of("file", size=5000), 1000)

    @mute_logger(*QUIET)
    def test_download_url_turns_refusals_and_limits_into_notes(self):
        cases = [
            (self.internal.url_of("file", size=10), 1000, "refused"),
            (self.fake.url_of("big", size=4 * 1024 * 1024), 1024 * 1024, "size"),
        ]
        for url, limit, reason in cases:
            with self.subTest(reason=reason), self.assertRaises(FileNotDownloaded) as caught:
                download_url(None, InboundFile(url, "f.bin"), limit)
            self.assertEqual(caught.exception.reason, reason)
        with patch.object(fetch, "FETCH_DEADLINE", 1.5), self.assertRaises(FileNotDownloaded) as caught:
            download_url(None, InboundFile(self.fake.url_of("slow", size=50, every=0.5), "slow.bin"), 1000)
        self.assertEqual(caught.exception.reason, "slow")

    def test_viber_downloads_respect_the_size_cap(self):
        """Viber's download read the whole body whatever its size (a 60 MB body against a 50 MB limit)."""
        connector = get_connector("viber", {"token": "t", "api_base_url": self.fake.url})
        sent_before, done_before = self.fake.sent_big, self.fake.big_done
        body = 64 * 1024 * 1024  # more than loopback socket buffers hold: only a reader takes it all
        with patch.object(viber, "MAX_DOWNLOAD", 64 * 1024), self.assertRaises(FileTooLarge):
            connector.download(InboundFile(self.fake.url_of("big", size=body), "v.bin"))
        deadline = time.monotonic() + 10
        while self.fake.big_done == done_before and time.monotonic() < deadline:
            time.sleep(0.05)  # the fake notices the hang-up on its next write
        self.assertEqual(self.fake.big_done, done_before + 1)
        self.assertLess(self.fake.sent_big - sent_before, body // 4, "the download stopped at the cap, not at the end")
        data = connector.download(InboundFile(self.fake.url_of("file", size=100), "ok.bin"))
        self.assertEqual(len(data), 100)

    def test_api_calls_have_a_total_deadline(self):
        """A platform API that trickles its answer is abandoned at twice the read timeout, not never."""
        started = time.monotonic()
        with self.assertRaises(requests.Timeout):
            fetch.api_request("GET", self.fake.url_of("slow", size=100, every=0.3), timeout=1)
        self.assertLess(time.monotonic() - started, 3.5)
        # a kept-alive connection, taken again from the pool, is watched by the new call's deadline
        self.assertEqual(fetch.api_request("GET", self.fake.url_of("file", size=10), timeout=1).content, b"x" * 10)
        started = time.monotonic()
        with self.assertRaises(requests.Timeout):
            fetch.api_request("GET", self.fake.url_of("slow", size=100, every=0.3), timeout=1)
        self.assertLess(time.monotonic() - started, 3.5)


@tagged("post_install", "-at_install")
class TestWebhookSecretsAndVerify(OpenlinesCase):
    def test_webhook_key_and_verify_token_never_reach_the_access_log(self):
        key = self.channel.sudo().webhook_key
        with self.assertLogs("werkzeug", logging.INFO) as logs:
            self.post_update(self.text_update(77001))
            self.url_open(self.webhook_url + "?hub.mode=subscribe&hub.verify_token=S3CRET&hub.challenge=1")
        text = "\n".join(logs.output)
        self.assertIn("/openlines/webhook/***", text)
        self.assertNotIn(key, text)
        self.assertNotIn("S3CRET", text)
        self.assertEqual(
            redact("GET /openlines/webhook/abc?hub.verify_token=x&y=1"),
            "GET /openlines/webhook/***?hub.verify_token=***&y=1",
        )

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_a_connector_that_trips_on_a_body_answers_403_never_500(self):
        with patch.object(TelegramConnector, "verify", side_effect=ValueError("odd body")):
            response = self.post_update(b"\x00\x01 not json")
        self.assertEqual(response.status_code, 403)
        with patch.object(TelegramConnector, "handshake", side_effect=KeyError("hub.mode")):
            response = self.url_open(self.webhook_url)
        self.assertEqual(response.status_code, 403)
        with patch.object(TelegramConnector, "split", side_effect=RuntimeError("odd shape")):
            response = self.post_update(self.text_update(77002))
        self.assertEqual(response.status_code, 400, "an unreadable genuine request is a 400")
        self.assertFalse(self.rows())
