"""The welcome e-mail's texts in Czech, Slovak and English: subject, plain text and HTML.

Python string templates (no package data to ship); `_message` fills them, escaping every
value for the HTML body.
"""

from __future__ import annotations

import dataclasses
from string import Template
from typing import Literal

Language = Literal["cs", "sk", "en"]


@dataclasses.dataclass(frozen=True)
class WelcomeTemplate:
    """One language's welcome e-mail. Placeholders: $greeting, $shop_name, $shop_url, $email,
    $reset_url (every one is filled; $greeting already carries the name when there is one)."""

    subject: Template
    greeting_named: Template
    greeting_plain: str
    text: Template
    html: Template


_HTML = Template(
    """<!DOCTYPE html>
<html lang="$lang">
<head><meta charset="utf-8"><title>$subject</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; line-height: 1.5; color: #222;">
<p>$greeting</p>
<p>$intro</p>
<p>$login_label <strong>$email</strong></p>
<p><a href="$reset_url" style="display: inline-block; padding: 10px 18px; background: #25b9d7;
color: #fff; text-decoration: none; border-radius: 4px;">$button</a></p>
<p>$hint</p>
<p style="color: #666; font-size: 90%;">$link_label<br><a href="$reset_url">$reset_url</a></p>
<p>$closing<br>$shop_name</p>
</body>
</html>
"""
)

# The HTML body's sentences per language (filled into _HTML).
HTML_PARTS: dict[Language, dict[str, str]] = {
    "cs": {
        "intro": 'v obchodě <a href="$shop_url">$shop_name</a> pro vás byl založen zákaznický účet.',
        "login_label": "Přihlašovací e-mail:",
        "button": "Nastavit heslo",
        "hint": "Na stránce zadejte svůj e-mail a obchod vám pošle odkaz pro nastavení hesla.",
        "link_label": "Pokud tlačítko nefunguje, otevřete tento odkaz:",
        "closing": "S pozdravem",
    },
    "sk": {
        "intro": 'v obchode <a href="$shop_url">$shop_name</a> sme pre vás založili zákaznícky účet.',
        "login_label": "Prihlasovací e-mail:",
        "button": "Nastaviť heslo",
        "hint": "Na stránke zadajte svoj e-mail a obchod vám pošle odkaz na nastavenie hesla.",
        "link_label": "Ak tlačidlo nefunguje, otvorte tento odkaz:",
        "closing": "S pozdravom",
    },
    "en": {
        "intro": 'a customer account has been created for you at <a href="$shop_url">$shop_name</a>.',
        "login_label": "Your login e-mail:",
        "button": "Set your password",
        "hint": "Enter your e-mail on that page and the shop will send you a link to set your password.",
        "link_label": "If the button does not work, open this link:",
        "closing": "Kind regards,",
    },
}

TEMPLATES: dict[Language, WelcomeTemplate] = {
    "cs": WelcomeTemplate(
        subject=Template("Vítejte v obchodě $shop_name"),
        greeting_named=Template("Dobrý den, $name,"),
        greeting_plain="Dobrý den,",
        text=Template(
            """$greeting

v obchodě $shop_name ($shop_url) pro vás byl založen zákaznický účet.
Přihlašovací e-mail: $email

Heslo si nastavíte zde:
$reset_url

Na stránce zadejte svůj e-mail a obchod vám pošle odkaz pro nastavení hesla.

S pozdravem
$shop_name
"""
        ),
        html=_HTML,
    ),
    "sk": WelcomeTemplate(
        subject=Template("Vitajte v obchode $shop_name"),
        greeting_named=Template("Dobrý deň, $name,"),
        greeting_plain="Dobrý deň,",
        text=Template(
            """$greeting

v obchode $shop_name ($shop_url) sme pre vás založili zákaznícky účet.
Prihlasovací e-mail: $email

Heslo si nastavíte tu:
$reset_url

Na stránke zadajte svoj e-mail a obchod vám pošle odkaz na nastavenie hesla.

S pozdravom
$shop_name
"""
        ),
        html=_HTML,
    ),
    "en": WelcomeTemplate(
        subject=Template("Welcome to $shop_name"),
        greeting_named=Template("Hello $name,"),
        greeting_plain="Hello,",
        text=Template(
            """$greeting

a customer account has been created for you at $shop_name ($shop_url).
Your login e-mail: $email

Set your password here:
$reset_url

Enter your e-mail on that page and the shop will send you a link to set your password.

Kind regards,
$shop_name
"""
        ),
        html=_HTML,
    ),
}
