from . import base, telegram
