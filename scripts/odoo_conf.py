#!/usr/bin/env python3
"""Write the Odoo configuration file used by `make run` and `make test`.

    python3 scripts/odoo_conf.py run  [PATH]   # default PATH: <repo>/.odoo.cfg
    python3 scripts/odoo_conf.py test [PATH]   # default PATH: <repo>/.odoo-test.cfg

The addons path is derived from the `odoo` package that this interpreter
imports (whatever Odoo 19 install that is), plus the directory holding the
openlines_connector addon ($OPENLINES_ADDONS_DIR, the repo root by default).
Database and HTTP settings come from the environment: PGHOST, PGPORT, PGUSER,
PGPASSWORD, HTTP_PORT, HTTP_INTERFACE, ODOO_DATA_DIR.
"""

import configparser
import getpass
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_addons_dir(path):
    """True if `path` holds at least one Odoo module (as Odoo itself checks)."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(
        os.path.isfile(os.path.join(path, name, "__manifest__.py"))
        and os.path.isfile(os.path.join(path, name, "__init__.py"))
        for name in names
    )


def odoo_addons_dirs():
    import odoo  # noqa: PLC0415

    import odoo.addons  # noqa: PLC0415

    dirs = [os.path.realpath(p) for p in odoo.addons.__path__]
    # `odoo` is a namespace package in 19.0 (no __file__): use its __path__.
    # In a source checkout (odoo-bin layout) the standard addons sit next to
    # the odoo package, in <checkout>/addons.
    for pkg_dir in list(getattr(odoo, "__path__", [])) or [os.path.dirname(odoo.__file__)]:
        candidate = os.path.join(os.path.dirname(os.path.realpath(pkg_dir)), "addons")
        if os.path.isdir(os.path.join(candidate, "web")):
            dirs.append(candidate)
    return dirs


def main(argv):
    mode = argv[1] if len(argv) > 1 else "run"
    if mode not in ("run", "test"):
        sys.exit(f"usage: {argv[0]} run|test [PATH]")
    default_name = ".odoo.cfg" if mode == "run" else ".odoo-test.cfg"
    path = os.path.abspath(argv[2]) if len(argv) > 2 else os.path.join(REPO_ROOT, default_name)

    addons_dir = os.path.abspath(os.environ.get("OPENLINES_ADDONS_DIR") or REPO_ROOT)
    if not os.path.isfile(os.path.join(addons_dir, "openlines_connector", "__manifest__.py")):
        sys.exit(f"No openlines_connector addon (openlines_connector/__manifest__.py) in {addons_dir}.")

    addons_path = []
    for d in odoo_addons_dirs() + [addons_dir]:
        if d not in addons_path and (d == addons_dir or is_addons_dir(d)):
            addons_path.append(d)
    if not any(os.path.isdir(os.path.join(d, "web")) for d in addons_path):
        sys.exit("The standard Odoo addons (web, mail, crm, ...) were not found next to the odoo package.")

    data_dir = os.path.abspath(os.environ.get("ODOO_DATA_DIR") or os.path.join(REPO_ROOT, ".odoo-data"))
    os.makedirs(data_dir, exist_ok=True)

    options = {
        "addons_path": ",".join(addons_path),
        "data_dir": data_dir,
        "db_host": os.environ.get("PGHOST") or "127.0.0.1",
        "db_port": os.environ.get("PGPORT") or "5432",
        "db_user": os.environ.get("PGUSER") or getpass.getuser(),
        # Odoo 19 skips (with a warning) 'False' for non-boolean options: an
        # empty value means "no password" (trust/peer auth, or $PGPASSWORD).
        "db_password": os.environ.get("PGPASSWORD", ""),
        "admin_passwd": "admin",
        "http_port": os.environ.get("HTTP_PORT") or "8069",
        "http_interface": os.environ.get("HTTP_INTERFACE") or "127.0.0.1",
        # Odoo 19 loads no demo data unless asked (--with-demo); make run asks
        # for it on a new database, tests install without it.
        "with_demo": "False",
        "max_cron_threads": "2" if mode == "run" else "0",
        "list_db": "True",
        "proxy_mode": "False",
    }
    if mode == "test":
        options["log_level"] = "info"

    parser = configparser.RawConfigParser()
    parser.add_section("options")
    for key, value in options.items():
        parser.set("options", key, value)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"; Written by scripts/odoo_conf.py ({mode}); regenerated on every make {mode}.\n")
        parser.write(fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    print(path)


if __name__ == "__main__":
    main(sys.argv)
