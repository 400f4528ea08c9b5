"""The Apple Messages for Business connector against the loopback fake of Apple's gateway (no ORM)."""

import base64
import gzip
import json
import time
import unittest

from ..connectors.apple import (
    BUSINESS_BID,
    AppleConnector,
    check_jwt,
    decrypt,
    encrypt,
    make_jwt,
    secret_key,
)
from ..connectors.base import REGISTRY, ConnectorError, OutboundFile, OutboundMessage
from .fake_apple import FakeApple, load_fixture

CUSTOMER = "urn:mbid:AQAAYyUbut6E4B3T9FLv5EbG/FAKE"


class TestAppleConnector(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeApple().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.calls.clear()
        self.fake.messages.clear()
        self.fake.customers.clear()
        self.connector = self.make()

    def make(self, **config):
        return AppleConnector(
            {
                "token": self.fake.secret,
                "apple_business_id": self.fake.business_id,
                "apple_msp_id": self.fake.msp_id,
                "api_base_url": self.fake.api_url,
            }
            | config
        )

    def sample(self, name):
        payload = load_fixture(name)
        payload["destinationId"] = self.fake.business_id
        return payload

    # -- registration and JWT ---------------------------------------------------------
    def test_apple_is_a_registered_channel_type(self):
        self.assertIs(REGISTRY["apple"], AppleConnector)
        self.assertEqual(AppleConnector.default_api_base_url, "https://mspgw.push.apple.com/v1")

    def test_jwt_is_hs256_signed_with_the_decoded_secret(self):
        key = secret_key(self.fake.secret)
        self.assertEqual(len(key), 32, "Apple's secret is Base64 text: the key is its decoded bytes")
        token = make_jwt({"aud": "msp", "iat": int(time.time())}, key)
        head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        self.assertEqual(head["alg"], "HS256")
        self.assertTrue(check_jwt(token, key, "msp"))
        self.assertFalse(check_jwt(token, key, "another-msp"), "aud must be our MSP id")
        self.assertFalse(check_jwt(token, self.fake.secret.encode(), "msp"), "the Base64 text is not the key")
        self.assertFalse(check_jwt(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), key, "msp"))

    def test_jwt_alg_none_and_expired_tokens_are_refused(self):
        key = secret_key(self.fake.secret)
        head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(b'{"aud":"msp"}').rstrip(b"=").decode()
        self.assertFalse(check_jwt(f"{head}.{body}.", key, "msp"))
        self.assertFalse(check_jwt(make_jwt({"aud": "msp", "exp": int(time.time()) - 3600}, key), key, "msp"))
        self.assertFalse(check_jwt(make_jwt({"aud": "msp", "iat": int(time.time()) + 3600}, key), key, "msp"))
        self.assertFalse(check_jwt("not-a-jwt", key, "msp"))

    def test_verify_needs_apples_jwt_for_our_business(self):
        body, headers = self.fake.inbound(self.sample("courier_text_hello_business"))
        self.assertTrue(self.connector.verify(headers, body, {}))
        forged = self.fake.jwt({"aud": self.fake.msp_id}, secret=base64.b64encode(b"x" * 32).decode())
        self.assertFalse(self.connector.verify(headers | {"Authorization": f"Bearer {forged}"}, body, {}))
        self.assertFalse(self.connector.verify({k: v for k, v in headers.items() if k != "Authorization"}, body, {}))
        self.assertFalse(self.connector.verify(headers | {"destination-id": "another-business"}, body, {}))
        self.assertFalse(self.make(token="not base64!").verify(headers, body, {}))

    def test_gzip_and_plain_bodies_are_read(self):
        payload = self.sample("courier_text_hello_business")
        self.assertEqual(self.connector.load(gzip.compress(json.dumps(payload).encode())), payload)
        self.assertEqual(self.connector.load(json.dumps(payload).encode()), payload)
        with self.assertRaises(ValueError):
            self.connector.load(b"\x1f\x8b\x08\x00broken")
        with self.assertRaises(ValueError, msg="a gzip bomb is refused, not inflated"):
            self.connector.load(gzip.compress(b"1" + b" " * (17 * 1024 * 1024)))  # its first 16 MB parse

    # -- inbound ----------------------------------------------------------------------
    def test_text_typing_close_and_unknown_types(self):
        payload = self.sample("courier_text_hello_business")
        self.assertEqual(self.connector.dedup_key(payload), "UUID-IDENTIFIER-FOR-MESSAGE")
        (event,) = self.connector.parse(payload)
        self.assertEqual((event.kind, event.chat_id, event.text), ("message", "OPAQUE-USER-ID", "Hello, Business!"))
        (typing,) = self.connector.parse(self.sample("courier_typing_start"))
        self.assertEqual((typing.kind, typing.text), ("typing", "start"))
        (closed,) = self.connector.parse(self.sample("apple_close"))
        self.assertEqual((closed.kind, closed.chat_id), ("closed", CUSTOMER))
        (other,) = self.connector.parse(payload | {"type": "richLink"})
        self.assertEqual(other.kind, "ignore")
        with self.assertRaises(ValueError):
            self.connector.dedup_key(payload | {"v": 2})

    def test_inbound_attachment_is_fetched_and_decrypted(self):
        entry = self.fake.customer_file(b"\xff\xd8jpeg bytes of the customer", "IMG.JPG", "image/jpeg")
        payload = self.sample("apple_sample_text_with_attachment")
        payload["attachments"][0].update(entry)
        (event,) = self.connector.parse(payload)
        self.assertEqual((event.kind, event.text), ("message", ""), "the U+FFFC placeholder is no text")
        (file,) = event.files
        self.assertEqual((file.name, file.mimetype, file.kind), ("IMG.JPG", "image/jpeg", "photo"))
        self.assertEqual(self.connector.download(file), b"\xff\xd8jpeg bytes of the customer")
        (pre,) = [c for r, c in self.fake.calls if r == "/v1/preDownload"]
        self.assertEqual(pre["headers"]["MMCS-Signature"], base64.b64encode(bytes.fromhex(entry["signature"])).decode())

    def test_legacy_attachment_keys_are_read(self):
        """Apple's "Example Attachment" spells the keys mime-type, file-size, decryption-key, mmcs-url..."""
        entry = self.fake.customer_file(b"legacy", "picture.png", "image/png")
        legacy = self.sample("apple_doc_outbound_attachment_legacy_keys")["attachments"][0]
        legacy.update(
            {
                "file-size": str(entry["size"]),
                "mmcs-url": entry["url"],
                "mmcs-owner": entry["owner"],
                "signature-base64": base64.b64encode(bytes.fromhex(entry["signature"])).decode(),
                "decryption-key": entry["key"].lower(),
            }
        )
        payload = self.sample("apple_sample_text_with_attachment")
        payload["attachments"] = [legacy]
        (file,) = self.connector.parse(payload)[0].files
        self.assertEqual((file.name, file.mimetype), ("picture.png", "image/png"))
        self.assertEqual(self.connector.download(file), b"legacy")

    def test_list_picker_answer_is_a_button_with_the_items_identifier(self):
        (event,) = self.connector.parse(self.sample("apple_tutorial_list_picker_reply"))
        self.assertEqual((event.kind, event.text, event.chat_id), ("button", "1", CUSTOMER))

    def test_large_answer_by_reference_is_decoded(self):
        answer = self.sample("apple_tutorial_list_picker_reply")
        ref = self.fake.interactive_ref(answer.pop("interactiveData"))
        (event,) = self.connector.parse(answer | {"interactiveDataRef": ref})
        self.assertEqual((event.kind, event.text), ("button", "1"))
        self.assertEqual(len([r for r, _c in self.fake.calls if r == "/v1/decodePayload"]), 1)

    # -- outbound ---------------------------------------------------------------------
    def test_text_goes_out_in_the_documented_shape(self):
        (sent_id,) = self.connector.send(OutboundMessage(chat_id=CUSTOMER, text="Hi", ref="7"))
        (message,) = self.fake.sent()
        documented = load_fixture("apple_doc_outbound_text")
        self.assertLessEqual(set(message), set(documented), "no key Apple's example does not have")
        self.assertEqual(set(documented) - set(message), {"locale"}, "locale is optional")
        self.assertEqual((message["type"], message["body"], message["destinationId"]), ("text", "Hi", CUSTOMER))
        self.assertEqual(message["id"], sent_id)
        (call,) = [c for r, c in self.fake.calls if r == "/v1/message"]
        self.assertEqual(call["headers"]["id"], sent_id)
        self.assertEqual(call["headers"]["Source-Id"], self.fake.business_id)
        self.assertEqual(self.connector.send(OutboundMessage(chat_id=CUSTOMER, text="Hi", ref="7")), [sent_id])

    def test_attachment_is_encrypted_uploaded_and_referenced(self):
        data = b"%PDF-1.4 the invoice"
        invoice = OutboundFile("invoice.pdf", data, "application/pdf")
        self.connector.send(OutboundMessage(CUSTOMER, "Your invoice", [invoice]))
        (message,) = self.fake.sent()
        self.assertEqual(message["body"], "Your invoice\n\ufffc")
        (item,) = message["attachments"]
        self.assertEqual(item["name"], "invoice.pdf")
        self.assertEqual(self.fake.uploaded(item), data)
        self.assertNotIn(data, [c["body"] for r, c in self.fake.calls if r == "upload"], "only ciphertext travels")

    def test_buttons_become_a_list_picker(self):
        buttons = [("⭐" * n, f"rate:{n}") for n in range(1, 6)]
        self.connector.send(OutboundMessage(CUSTOMER, "Please rate our service", buttons=buttons, ref="9"))
        (picker,) = self.fake.sent("interactive")
        data = picker["interactiveData"]
        self.assertEqual(data["bid"], BUSINESS_BID)
        (section,) = data["data"]["listPicker"]["sections"]
        self.assertEqual([i["identifier"] for i in section["items"]], [f"rate:{n}" for n in range(1, 6)])
        self.assertFalse(section["multipleSelection"])
        self.assertEqual(data["receivedMessage"]["title"], "Please rate our service")
        self.assertFalse(self.fake.sent("text"), "a short question is the picker's own title")
        self.fake.messages.clear()
        question = "Thank you for contacting us today, we hope everything was clear.\nHow would you rate the answer?"
        self.connector.send(OutboundMessage(CUSTOMER, question, buttons=buttons, ref="10"))
        text, picker = self.fake.sent()
        self.assertEqual((text["type"], text["body"]), ("text", question), "a longer text goes first, whole")
        title = picker["interactiveData"]["receivedMessage"]["title"]
        self.assertEqual(title, "Thank you for contacting us today, we hope everything was c…")
        self.assertEqual(len(title), 60)

    def test_capabilities_are_kept_with_the_body_and_read(self):
        payload = self.sample("courier_text_hello_business")
        body, headers = self.fake.inbound(payload, **{"capability-list": "auth%2Clist,quick"})
        self.assertTrue(self.connector.verify(headers, body, {}))
        ((_key, stored),) = self.connector.split(self.connector.load(body))
        (event,) = self.connector.parse(stored)
        self.assertEqual(event.capabilities, "AUTH,LIST,QUICK")
        buttons = [("Accept", "consent:yes"), ("Decline", "consent:no")]
        without_list = OutboundMessage(CUSTOMER, "May we?", buttons=buttons)
        without_list.capabilities = "AUTH,QUICK"
        self.connector.send(without_list)
        (text,) = self.fake.sent()
        self.assertEqual((text["type"], text["body"]), ("text", "May we?\n• Accept\n• Decline"))

    def test_errors_are_classified(self):
        self.fake.queue_error("/v1/message", 503)
        with self.assertRaises(ConnectorError) as retry:
            self.connector.send(OutboundMessage(CUSTOMER, "x"))
        self.assertEqual(retry.exception.retry_after, 60)
        with self.assertRaises(ConnectorError) as refused:
            self.make(token=base64.b64encode(b"wrong" * 8).decode()).send(OutboundMessage(CUSTOMER, "x"))
        self.assertIsNone(refused.exception.retry_after)
        self.assertEqual(refused.exception.code, 403)
        self.fake.customers.add("someone-else")
        with self.assertRaises(ConnectorError) as unknown:
            self.connector.send(OutboundMessage(CUSTOMER, "x"))
        self.assertEqual((unknown.exception.code, unknown.exception.retry_after), (404, None))

    def test_typing_indicator_and_connection_test(self):
        self.connector.send_typing(CUSTOMER)
        self.assertEqual([m["type"] for m in self.fake.sent()], ["typing_start"])
        self.assertEqual(self.connector.test(), f"Business {self.fake.business_id}")
        with self.assertRaises(ConnectorError):
            self.make(apple_msp_id="another").test()

    def test_the_fake_refuses_what_apple_refuses(self):
        import requests  # noqa: PLC0415

        def post(body, **headers):
            auth = {"Authorization": f"Bearer {self.fake.jwt({'iss': self.fake.msp_id, 'iat': int(time.time())})}"}
            base = auth | {"id": "m-1", "Source-Id": self.fake.business_id, "Destination-Id": CUSTOMER}
            sent = {k: v for k, v in (base | headers).items() if v is not None}
            return requests.post(f"{self.fake.api_url}/message", json=body, headers=sent, timeout=10).status_code

        good = {"v": 1, "type": "text", "id": "m-1", "sourceId": self.fake.business_id, "destinationId": CUSTOMER}
        self.assertEqual(post(good | {"body": "hi"}), 200)
        self.assertEqual(post(good | {"body": "hi"}, Authorization=None), 401)
        self.assertEqual(post(good | {"body": "hi"}, Authorization="Bearer x.y.z"), 403)
        self.assertEqual(post(good | {"body": "hi"}, id=None), 400)
        self.assertEqual(post(good | {"type": "close"}), 400, "close is receive-only")
        self.assertEqual(post(good), 400, "a text without body")

    def test_cipher_round_trip_with_a_zero_iv(self):
        encrypted, key = encrypt(b"hello", bytes(range(32)))
        self.assertEqual(key, "00" + bytes(range(32)).hex())
        self.assertEqual(decrypt(encrypted, key.upper()), b"hello")
        from .fake_apple import aes_ctr

        self.assertEqual(aes_ctr(bytes(range(32)), b"hello"), encrypted, "same cipher as the fake's own")
