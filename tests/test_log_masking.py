"""Personal data never reaches a log in clear (structlog's capture_logs sees processed events)."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from connector.log import mask_personal_data, mask_value


def log_with_masking(**event: object) -> dict[str, object]:
    # From the defaults: an in-process CLI test before this one may have left a level filter.
    structlog.reset_defaults()
    structlog.configure(processors=[mask_personal_data, structlog.testing.LogCapture()])
    try:
        with capture_logs(processors=[mask_personal_data]) as logs:
            structlog.get_logger().info("contact.synced", **event)
    finally:
        structlog.reset_defaults()
    assert len(logs) == 1
    return logs[0]


def test_personal_fields_are_masked_by_key() -> None:
    entry = log_with_masking(
        email="jan.kovac@example.sk", phone="+421 900 123 456", name="Ján Kováč", street="Hlavná 1", customer_id="E-42"
    )
    for key in ("email", "phone", "name", "street"):
        assert str(entry[key]).startswith("<masked:"), key
    assert entry["customer_id"] == "E-42"


def test_emails_and_phones_inside_free_text_are_masked() -> None:
    entry = log_with_masking(error="POHODA refused jan.kovac@example.sk, call +420 777 123 456 back")
    text = str(entry["error"])
    assert "jan.kovac@example.sk" not in text
    assert "777 123 456" not in text
    assert "POHODA refused" in text


def test_nested_contact_dicts_are_masked() -> None:
    entry = log_with_masking(contact={"id": "7", "email": "eva@example.cz", "ship_to": [{"name": "Eva Nováková"}]})
    contact = entry["contact"]
    assert isinstance(contact, dict)
    assert contact["id"] == "7"
    assert contact["email"] == mask_value("eva@example.cz")
    assert "Nováková" not in str(contact)


def test_mask_is_stable_so_events_can_be_correlated() -> None:
    assert mask_value("eva@example.cz") == mask_value("eva@example.cz")
    assert mask_value("eva@example.cz") != mask_value("eve@example.cz")


def test_counts_and_ids_are_left_alone() -> None:
    entry = log_with_masking(items=200, pack_id="run-1-3", duration_ms=12.5)
    assert entry["items"] == 200
    assert entry["pack_id"] == "run-1-3"


# -- issue 12, point 7: tracebacks, CLI errors, uvicorn's log and schema messages ------------


def test_a_logged_traceback_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from connector.log import configure_logging, get_logger

    for fmt in ("json", "console"):
        configure_logging("info", fmt)
        try:
            try:
                raise ValueError("POHODA refused jan.kovac@example.sk, call +420 777 123 456")
            except ValueError:
                get_logger("test").exception("webhook.failed", event_id="e1")
        finally:
            structlog.reset_defaults()
        err = capsys.readouterr().err
        assert "Traceback" in err and "ValueError" in err, fmt
        assert "jan.kovac@example.sk" not in err, fmt
        assert "777 123 456" not in err, fmt


def test_uvicorns_own_log_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import logging.config

    from connector.log import uvicorn_log_config

    logging.config.dictConfig(uvicorn_log_config())
    try:
        raise RuntimeError("record for eva.novakova@example.cz")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    err = capsys.readouterr().err
    assert "Exception in ASGI application" in err and "RuntimeError" in err
    assert "eva.novakova@example.cz" not in err


def test_cli_error_lines_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from connector.cli._main import fail

    with pytest.raises(SystemExit) as info:
        fail("record POHODA 7: jan.kovac@example.sk refused, phone +420 777 123 456")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: record POHODA 7: <masked:")
    assert "jan.kovac@example.sk" not in err and "777 123 456" not in err


@pytest.mark.parametrize(
    ("facet", "value"),
    [
        (None, "1985-02-30"),
        ('<xs:maxLength value="5"/>', "Kováčová"),
        ('<xs:pattern value="[0-9]+"/>', "Hlavná 1"),
        ('<xs:enumeration value="a"/>', "Ján 'J' K"),
    ],
    ids=["date", "maxLength", "pattern", "enumeration"],
)
def test_schema_messages_name_the_element_and_the_rule_not_the_value(facet: str | None, value: str) -> None:
    from lxml import etree

    from connector.codec import _xml
    from connector.errors import SchemaViolation

    xs = 'xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    if facet is None:
        xsd = f'<xs:schema {xs}><xs:element name="born" type="xs:date"/></xs:schema>'
    else:
        xsd = (
            f'<xs:schema {xs}><xs:element name="born"><xs:simpleType><xs:restriction base="xs:string">{facet}'
            "</xs:restriction></xs:simpleType></xs:element></xs:schema>"
        )
    schema = etree.XMLSchema(etree.fromstring(xsd.encode()))
    document = etree.fromstring(f"<born>{value}</born>".encode())
    with pytest.raises(SchemaViolation) as info:
        _xml.validate(document, schema, what="record POHODA 7")
    message = str(info.value)
    assert "'born'" in message
    assert value not in message and value.split()[0] not in message
