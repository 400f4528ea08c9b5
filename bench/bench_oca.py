"""The same webhook load against OCA's ``mail_gateway_telegram``, for ``bench_webhook.py --against-oca``.

OCA's modules (``mail_gateway`` and ``mail_gateway_telegram``, AGPL/LGPL) are never copied into this
repository: their registry wheels are downloaded (``pip download``) into a temporary directory, or
taken from ``--oca-wheels DIR``, and their ``odoo/addons/<module>`` folders unpacked into a temporary
addons directory that only the OCA server and registry see. Their declared Python dependencies
``lottie`` and ``cairosvg`` (only used for animated stickers) are installed, without their own
dependencies, into that temporary directory too when missing, so the shared environment is untouched.

The OCA gateway processes an update inside the webhook request (no queue): an acknowledged update is
a processed one, which the script verifies by counting the ``mail.message`` rows created.
"""

import argparse
import glob
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import bench_webhook as bw
from bench_webhook import SECRET
from werkzeug.test import Client

import odoo
import odoo.http
import odoo.orm.registry
import odoo.tools

MODULE = "mail_gateway_telegram"
KEY = "olbench-oca"


def oca_addons(wheels_dir=None):
    """A temporary addons directory with OCA's modules, and the extra ``sys.path`` entry (or None)."""
    tmp = Path(tempfile.mkdtemp(prefix="olbench_oca_"))
    if not wheels_dir:
        wheels_dir = tmp / "wheels"
        print(f"pip download of OCA's mail_gateway_telegram into {wheels_dir}...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(wheels_dir),
                "odoo-addon-mail-gateway",
                "odoo-addon-mail-gateway-telegram==19.0.*",
            ],
            check=True,
        )
    addons, versions = tmp / "addons", []
    for wheel in sorted(glob.glob(f"{wheels_dir}/odoo_addon_mail_gateway*.whl")):
        versions.append(Path(wheel).name)
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("odoo/addons/"):
                    z.extract(name, tmp / "unzip")
    (tmp / "unzip" / "odoo" / "addons").rename(addons)
    missing = []
    for dist in ("python-telegram-bot", "lottie", "cairosvg"):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    site = None
    if missing:
        site = tmp / "site"
        print(f"pip install --no-deps --target {site} {' '.join(missing)}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *missing], check=True
        )
        sys.path.append(str(site))
    return addons, site, versions


class OcaBench(bw.Bench):
    """The acknowledgement, query and behaviour phases of ``Bench``, on OCA's gateway."""

    def __init__(self, ours):
        args = argparse.Namespace(**vars(ours.args))
        args.db = f"{ours.args.db}_oca"
        super().__init__(args)
        self.ours, self.fake, self.update_id = ours, ours.fake, ours.update_id + 10**6
        self.addons, self.site, self.versions = oca_addons(args.oca_wheels)
        self.base_addons = ",".join(odoo.tools.config["addons_path"])
        self.results.update(new=None, messages={})

    def odoo_args(self):
        return [*super().odoo_args(), "--addons-path", f"{self.base_addons},{self.addons}"]

    def subprocess_env(self):
        if not self.site:
            return None
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH")])),
        }

    def webhook_path(self):
        return f"/gateway/telegram/{self.key}/update"

    def ack_ok(self, response):
        return response.status_code == 200

    def prepare_db(self):
        db = self.args.db
        odoo.tools.config.parse_config(self.odoo_args(), setup_logging=False)  # adds the OCA addons path
        self.created_db = not self.postgres("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        print(f"Installing {MODULE} in {db}...", flush=True)
        self.install_module(MODULE, update=not self.created_db)
        self.registry = odoo.orm.registry.Registry(db)
        self.autovacuum = self.ours.autovacuum
        self.version = self.sql("SELECT latest_version FROM ir_module_module WHERE name = %s", (MODULE,))[0][0]

    def setup_records(self):
        stamp = time.strftime("%Y%m%d%H%M%S")
        self.key, self.token = f"{KEY}-{stamp}", f"123456:OLBENCH-{stamp}"  # unique, also in a reused database
        with self.registry.cursor() as cr:
            env = self.env(cr)
            # a plain user cannot post in a gateway channel: message_post reads mail.gateway (Settings only)
            groups = env.ref("base.group_user") | env.ref("mail_gateway.gateway_user") | env.ref("base.group_system")
            operator = env["res.users"].create(
                {"name": "Bench Operator", "login": f"olbench_op_{stamp}", "group_ids": [(6, 0, groups.ids)]}
            )
            gateway = env["mail.gateway"].create(
                {
                    "name": f"Bench bot {stamp}",
                    "gateway_type": "telegram",
                    "token": self.token,
                    "webhook_key": self.key,
                    "webhook_secret": SECRET,
                    "member_ids": [(6, 0, operator.ids)],
                }
            )
            # What OCA's "Integrate webhook" button does after calling setWebhook on api.telegram.org (its
            # telegram.Bot takes no base URL, and Telegram has nothing to call back here anyway).
            gateway.integrated_webhook_state = "integrated"
            self.operator_id, self.gateway_id = operator.id, gateway.id

    def refresh_presence(self):
        pass

    def counts(self):
        """(comment messages in gateway channels, gateway channels)."""
        return self.sql(
            """SELECT (SELECT count(*) FROM mail_message m JOIN discuss_channel c ON c.id = m.res_id
                                    WHERE m.model = 'discuss.channel' AND m.message_type = 'comment'
                                      AND c.gateway_id = %(g)s),
                                  (SELECT count(*) FROM discuss_channel WHERE gateway_id = %(g)s)""",
            {"g": self.gateway_id},
        )[0]

    def first_messages(self, count):
        """A server (no cron thread), then the first message of ``count`` new chats from one sender: OCA
        processes each inside its request, so the rate of answers is its rate of first messages in Discuss."""
        self.start_server(0)
        self.post_all(self.bodies(20, 50 * self.args.clients), 2)  # warm-up, in chats of their own
        self.analyze()
        m0, c0 = self.counts()
        wall, lat, bad = self.post_all(self.bodies(count, 1), 1)  # first message of each chat
        m1, c1 = self.counts()
        self.results["new"] = {
            "n": len(lat),
            "seconds": wall,
            "rate": (len(lat) - len(bad)) / wall,
            "created": m1 - m0,
            "channels": c1 - c0,
            "errors": len(bad),
        }
        print(f"OCA new chats: {self.results['new']}", flush=True)
        return self.results["new"]

    def ack_phase(self):
        self.first_messages(self.args.clients)
        self.analyze()
        for level in self.args.concurrency:
            m0, c0 = self.counts()
            wall, lat, bad = self.post_all(self.bodies(self.args.messages, 1), level)
            m1, c1 = self.counts()
            row = {
                "concurrency": level,
                "n": len(lat),
                "rps": (len(lat) - len(bad)) / wall,
                "p50": bw.pct(lat, 50) * 1000,
                "p99": bw.pct(lat, 99) * 1000,
                "errors": len(bad),
                "created": m1 - m0,
                "channels": c1 - c0,
                "bad": bad[:2],
            }
            self.results["ack"].append(row)
            print(
                f"OCA ack C={level}: {row['rps']:.1f}/s p50 {row['p50']:.1f} ms p99 {row['p99']:.1f} ms, "
                f"{len(bad)} not 200 {bad[:1]}, {row['created']} messages created, "
                f"{row['channels']} new channels",
                flush=True,
            )
        self.stop_server()

    def queries_phase(self):
        """Queries of whole webhook requests (OCA processes inside the request), in-process WSGI."""
        odoo.http.root.initialize()
        q, client, n = self.results["queries"], Client(odoo.http.root), 10
        for body in self.bodies(3, 1):  # warm-up (existing chats)
            assert client.post(self.webhook_path(), data=body, headers=bw.HEADERS).status_code == 200
        for key, first in (("existing_dialog", 1), ("new_dialog", 100 * self.args.clients)):
            bodies = self.bodies(0, chats=range(first, first + n))
            q[key] = [
                c / n
                for c in self.count_queries(
                    lambda bodies=bodies: [client.post(self.webhook_path(), data=b, headers=bw.HEADERS) for b in bodies]
                )
            ]
        print("OCA queries per webhook request [database, postgres]:", q, flush=True)

    def reply_phase(self):
        """OCA sends inside ``message_post``; its Bot is pointed at the fake here, in this process only."""
        import telegram  # noqa: PLC0415 (python-telegram-bot, OCA's dependency)

        model = self.registry["mail.gateway.telegram"]  # the registry class: patched in this process only
        fake = self.ours.fake2 = bw.load_fake_telegram().FakeTelegram(token=self.token).start()
        saved = model._get_telegram_bot
        model._get_telegram_bot = lambda _self, token=False: telegram.Bot(token, base_url=f"{fake.url}/bot")
        try:
            with self.registry.cursor() as cr:
                channel = self.env(cr)["discuss.channel"].search([("gateway_id", "=", self.gateway_id)], limit=1)
                channel_id = channel.id
            self.results["reply"] = self.reply_latencies(fake, channel_id)
        finally:
            model._get_telegram_bot = saved

    def run(self):
        self.prepare_db()
        self.setup_records()
        self.ack_phase()
        self.queries_phase()
        self.results["behaviour"] = self.behaviour_phase()
        if self.args.reply:
            try:
                self.reply_phase()
            except Exception as e:  # noqa: BLE001 - a figure missing, not the run
                print(f"OCA operator reply phase failed: {e!r}", flush=True)
        return self.results

    def behaviour_process(self):
        pass  # processed in the request

    def behaviour_count(self):
        return self.counts()[0]

    def cleanup(self):
        self.stop_server()
        if self.created_db and not self.args.keep:
            self.created_db = False
            self.drop_db()


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "–"


def report(ours, oca):
    """Markdown: ours vs OCA side by side, ratio ours / OCA."""
    o, c = ours.results, oca.results
    lines = [
        "## Against OCA's `mail_gateway_telegram` (same run, same machine)",
        "",
        f"OCA: {', '.join(oca.versions)} (registry wheels, unpacked into a temporary addons path; "
        f"`mail_gateway_telegram` {oca.version} installed in `{oca.args.db}`), one `mail.gateway` of type "
        "telegram with a webhook secret and the bench operator as member, marked *integrated* directly "
        "(OCA's button calls setWebhook on api.telegram.org: its `telegram.Bot` takes no base URL). "
        "Same server command (`--workers 0`, no cron thread), same update bodies, same "
        f"{ours.args.clients} chats, {ours.args.messages} POSTs per level. Text updates need no Bot API "
        "call on either side. OCA processes an update inside the request, so its acknowledgements per "
        "second are also its processed messages per second (checked: messages created column).",
        "",
        "| Acknowledgements | ours acks/s | OCA acks/s | ratio | ours p50 / p99 ms | OCA p50 / p99 ms "
        "| OCA messages created / POSTs | OCA not 200 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, b in zip(o["ack"], c["ack"], strict=False):
        lines.append(
            f"| {a['concurrency']} sender(s) | {a['rps']:.1f} | {b['rps']:.1f} | {ratio(a['rps'], b['rps'])} "
            f"| {a['p50']:.0f} / {a['p99']:.0f} | {b['p50']:.0f} / {b['p99']:.0f} "
            f"| {b['created']} / {b['n']} | {b['errors']} |"
        )
    proc = {p["kind"].split(" (")[0]: p for p in o["processing"]}
    new, exist = proc.get("new dialog"), proc.get("existing dialog")
    best_oca = max((b["rps"] for b in c["ack"]), default=0)
    lines += ["", "| Fully processed into Discuss | ours msg/s | OCA msg/s | ratio |", "|---|---:|---:|---:|"]
    if new and c["new"]:
        lines.append(
            f"| first message of a chat (new dialog / channel), one worker vs one sender "
            f"| {new['rate']:.1f} | {c['new']['rate']:.1f} | {ratio(new['rate'], c['new']['rate'])} |"
        )
    if exist and c["ack"]:
        one = c["ack"][0]["rps"]
        lines.append(
            f"| existing dialog: ours one cron worker in-process vs OCA 1 sender | {exist['rate']:.1f} "
            f"| {one:.1f} | {ratio(exist['rate'], one)} |"
        )
        lines.append(
            f"| existing dialog: ours one cron worker vs OCA's best level | {exist['rate']:.1f} "
            f"| {best_oca:.1f} | {ratio(exist['rate'], best_oca)} |"
        )
    if (e := o.get("e2e")) and c["new"]:
        # the end-to-end POSTs go round-robin to --clients new chats: the first message of each opens a dialog
        opened = min(e["n"], ours.args.clients)
        theirs = c["new"]["rate"] if opened == e["n"] else best_oca
        lines.append(
            f"| end-to-end: ours server with {ours.args.e2e_cron_threads} cron thread, 4 senders, {opened} of "
            f"{e['n']} messages opening a dialog, vs OCA's {'new chats' if opened == e['n'] else 'best level'} "
            f"| {e['rate']:.1f} | {theirs:.1f} | {ratio(e['rate'], theirs)} |"
        )
    oq, cq = o["queries"], c["queries"]
    lines += [
        "",
        "| SQL queries per inbound message (database + `postgres`) | ours | OCA | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("existing_dialog", "existing dialog"), ("new_dialog", "new dialog")):
        if (ack := oq.get("ack")) and (warm := oq.get(f"{key}_warm")) and (theirs := cq.get(key)):
            mine, other = ack[0] + ack[1] + warm[0] + warm[1], theirs[0] + theirs[1]
            lines.append(
                f"| {label}: ours acknowledgement + warm cron batch share ({ack[0] + ack[1]:g} + "
                f"{warm[0] + warm[1]:g}) vs OCA's webhook request | {mine:g} | {other:g} "
                f"| {ratio(mine, other)} |"
            )
    ob, cb = o.get("behaviour", {}), c.get("behaviour", {})
    if ob and cb:
        lines += [
            "",
            "| Behaviour | ours | OCA |",
            "|---|---|---|",
            f"| the same update delivered twice: HTTP statuses, Discuss messages created | {ob['dup']} | {cb['dup']} |",
            f"| an `edited_message` update: HTTP status | {ob['edited']} | {cb['edited']} |",
        ]
    orp, crp = o.get("reply"), c.get("reply")
    if orp:
        lines += ["", "| Operator reply returns after (median of 5, ms): Bot API | ours | OCA |", "|---|---:|---:|"]
        for key, label in (("healthy", "healthy"), ("slow", "slow (2 s per call)"), ("down", "down (stopped)")):
            theirs = f"{crp[key]:.0f}" if crp else "–"
            lines.append(f"| {label} | {orp[key]:.0f} | {theirs} |")
    return "\n".join(lines)
