from . import base, telegram, vk, ok, avito
from . import whatsapp, viber, meta
from . import apple
