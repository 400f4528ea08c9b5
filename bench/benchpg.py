"""PostgreSQL plumbing shared by the bench scripts (it imports no Odoo: ``bench_flood.py`` runs without it)."""

import psycopg2


def run_sql(connect, query, params=()):
    """One statement on its own autocommit connection (``connect``: psycopg2's keyword arguments); its rows.

    None for a statement that returns none. The connection is none of an Odoo registry's: what the
    scripts check or set up is seen at once by the servers they measure.
    """
    conn = psycopg2.connect(**connect)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()
