from . import openlines_report_dialog
