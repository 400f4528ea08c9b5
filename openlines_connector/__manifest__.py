{
    "name": "Open Lines (omnichannel inbox)",
    "summary": "Telegram and site-chat clients answered from Discuss, routed through Open Lines",
    "description": """
Open Lines for Odoo: every message a client writes to the company in a messenger
or in the site's live-chat widget lands in one queue, is routed to an operator
who answers from Discuss, and is tied to the client's partner in CRM.
""",
    "version": "19.0.1.1.0",
    "category": "Website/Live Chat",
    "author": "openlines_connector contributors",
    "website": "https://github.com/openlines/openlines_connector",
    "license": "LGPL-3",
    "depends": ["im_livechat", "crm", "mail_bot"],
    "external_dependencies": {
        "python": ["python-telegram-bot", "vk-api", "requests"],
    },
    "data": [
        "security/openlines_security.xml",
        "security/ir.model.access.csv",
        "security/openlines_discuss_security.xml",  # working in Discuss (issue 16)
        "data/ir_cron.xml",
        "data/openlines_kpi_cron.xml",
        "views/openlines_line_views.xml",
        "views/openlines_channel_views.xml",
        "views/openlines_channel_apple_views.xml",  # Apple Messages for Business (issue 14)
        "views/openlines_contact_views.xml",
        "views/openlines_dialog_views.xml",
        "views/openlines_message_views.xml",
        "views/openlines_whatsapp_views.xml",
        "views/res_config_settings_views.xml",
        "views/openlines_crm_views.xml",
        "views/openlines_kpi_views.xml",
        "views/openlines_chatbot_views.xml",  # chatbot on messengers (issue 4)
        "views/openlines_discuss_views.xml",  # working in Discuss (issue 16)
        "views/openlines_menus.xml",
        "views/openlines_kpi_menus.xml",
    ],
    "demo": [
        "demo/openlines_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "openlines_connector/static/src/**/*",
            ("remove", "openlines_connector/static/src/widget/**/*"),
        ],
        # the site widget (issue 16): its rating form follows the line
        "im_livechat.assets_embed_core": [
            "openlines_connector/static/src/widget/**/*",
        ],
        "web.assets_tests": [
            "openlines_connector/static/tests/tours/**/*",
            ("remove", "openlines_connector/static/tests/tours/support/**/*"),
        ],
        # tours of the site widget, loaded by im_livechat's support page in test mode
        "im_livechat.assets_livechat_support_tours": [
            "openlines_connector/static/tests/tours/support/*",
        ],
    },
    "application": True,
    "installable": True,
}
