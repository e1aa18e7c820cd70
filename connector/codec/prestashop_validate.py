"""PrestaShop's field validators (classes/Validate.php and CustomerNameValidator), in Python.

Shared by the codec, which refuses a value before sending it, and by the simulator, which
refuses it as the shop would; each function names the PHP validator it stands for.
"""

from __future__ import annotations

import datetime as dt
import re

# One function per validator the customer, address and country resources use.
# Each takes the stored string; ObjectModel::validateField calls a validator only for a
# non-empty value (`if (!empty($value))`), so "" and "0" never reach them.

_NAME_FORBIDDEN = frozenset('0123456789!<>,;?=+()@#"°{}_$%:¤|')  # isName
_CUSTOMER_NAME_FORBIDDEN = frozenset('0123456789!<>,;?=+()/\\@#"°*`{}_^$%:¤[]|')  # CustomerNameValidator
_DOTS = frozenset(".。")


def is_name(value: str) -> bool:
    """isName: no digits and none of !<>,;?=+()@#"°{}_$%:¤| (address first and last names)."""
    return not (set(value) & _NAME_FORBIDDEN)


def is_customer_name(value: str) -> bool:
    """isCustomerName (src/Core/ConstraintValidator/CustomerNameValidator.php): not blank, no
    digits or !<>,;?=+()/\\@#"°*`{}_^$%:¤[]|, a dot only before whitespace or at the end, and
    (isPointSpacedValid) a dot followed by exactly one space and a letter, or ending the name."""
    if not value.strip() or set(value) & _CUSTOMER_NAME_FORBIDDEN:
        return False
    for i, char in enumerate(value):
        if char in _DOTS and i + 1 < len(value) and not value[i + 1].isspace():
            return False
    if not set(value) & _DOTS:
        return True
    return re.search(r"[.。](\s[^ ]|$)", value) is not None


def is_generic_name(value: str) -> bool:
    """isGenericName: none of <>={}."""
    return not (set(value) & set("<>={}"))


def is_address(value: str) -> bool:
    """isAddress: none of !<>?=+@{}_$%."""
    return not (set(value) & set("!<>?=+@{}_$%"))


def is_city_name(value: str) -> bool:
    """isCityName: none of !<>;?=+@#"°{}_$%."""
    return not (set(value) & set('!<>;?=+@#"°{}_$%'))


def is_message(value: str) -> bool:
    """isMessage: none of <>{}."""
    return not (set(value) & set("<>{}"))


def is_post_code(value: str) -> bool:
    """isPostCode: letters, digits, spaces and hyphens only."""
    return re.fullmatch(r"[a-zA-Z 0-9-]+", value) is not None


def is_phone_number(value: str) -> bool:
    """isPhoneNumber: digits, + . space ( ) / - only."""
    return re.fullmatch(r"[+0-9. ()/-]*", value) is not None


def is_dni_lite(value: str) -> bool:
    """isDniLite: 1-16 of letters, digits, '-' and '.'."""
    return re.fullmatch(r"[0-9A-Za-z.-]{1,16}", value) is not None


_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(rf"{_EMAIL_ATOM}(\.{_EMAIL_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def is_email(value: str) -> bool:
    """isEmail is egulias RFCValidation plus SwiftMailer's; this is the dot-atom form they
    both accept (no quoted local parts, no IP literals: stricter, never looser)."""
    return _EMAIL.fullmatch(value) is not None and len(value.split("@", 1)[0]) <= 64


def is_bool(value: str) -> bool:
    """isBool: 0 or 1 (the strings "true" / "false" are refused)."""
    return value in ("0", "1")


def is_unsigned_int(value: str) -> bool:
    """isUnsignedInt / isUnsignedId: a decimal integer 0 .. 2^32-1, no sign, no leading zero."""
    return value.isascii() and value.isdigit() and str(int(value)) == value and int(value) < 2**32


def is_float(value: str) -> bool:
    """isFloat: (string)(float)$v == (string)$v, approximated as a plain decimal number."""
    return re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


def is_date(value: str) -> bool:
    """isDate: Y-m-d with an optional ' H:i:s', and a real calendar day (checkdate)."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})( \d{2}:\d{2}:\d{2})?", value)
    if match is None:
        return False
    try:
        dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def is_birth_date(value: str, *, today: dt.date | None = None) -> bool:
    """isBirthDate: empty or 0000-00-00, else Y-m-d, not in the future, not over 200 years ago."""
    if value == "0000-00-00":
        return True
    try:
        day = dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return False
    today = today or dt.date.today()
    return dt.date(today.year - 200, today.month, min(today.day, 28)) <= day <= today


def is_url(value: str) -> bool:
    """isUrl: letters, digits and ~:#,$%&_=().? +-@/ only."""
    return re.fullmatch(r"[~:#,$%&_=().? +\-@/\w]+", value) is not None


_HTML_EVENTS = re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)


def is_clean_html(value: str) -> bool:
    """isCleanHtml: no <script, no on…= event handlers, no 'script:', no frame/form/input/embed/object."""
    if re.search(r"<\s*script", value, re.IGNORECASE) or _HTML_EVENTS.search(value):
        return False
    if re.search(r"script:", value, re.IGNORECASE):
        return False
    return re.search(r"<\s*(i?frame|form|input|embed|object)", value, re.IGNORECASE) is None


def is_md5(value: str) -> bool:
    return re.fullmatch(r"[a-fA-F0-9]{32}", value) is not None


def is_sha1(value: str) -> bool:
    return re.fullmatch(r"[a-fA-F0-9]{40}", value) is not None


def is_date_or_null(value: str) -> bool:
    return value in ("0000-00-00", "0000-00-00 00:00:00") or is_date(value)


def is_ape(value: str) -> bool:
    """isApe: the French APE code, 3-4 digits and a letter."""
    return re.fullmatch(r"[0-9]{3,4}[a-zA-Z]", value) is not None


def is_language_iso_code(value: str) -> bool:
    return re.fullmatch(r"[a-zA-Z]{2,3}", value) is not None


def is_passwd_or_hash(value: str) -> bool:
    """passwd is validated after setWsPasswd has hashed it: isPasswd (1.7: 5-72 characters) or
    isHashedPassword (8.1+: 32 or 60 characters); the simulator's 60-character hash passes both."""
    return 5 <= len(value) <= 72
