"""Personal data never reaches a log in clear (structlog's capture_logs sees processed events)."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from connector.log import mask_personal_data, mask_value


def log_with_masking(**event: object) -> dict[str, object]:
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
