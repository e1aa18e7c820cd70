"""The pure core as plain calls: the planner's operations, the merge, and what a delivery
result means. No store, no HTTP: values in, values out."""

from __future__ import annotations

from typing import Any

from connector.model import Contact, Link, MirrorRecord, OutboxEntry, hash_content
from connector.peers import WriteResult
from connector.plan import (
    MergePolicy,
    PlanSettings,
    PlanState,
    SideRecord,
    interpret,
    merge,
    plan_operations,
    temporary_hq_id,
    write_for,
)

SETTINGS = PlanSettings(ico="12345678")


def contact(**fields: Any) -> Contact:
    return Contact.from_dict(fields)


def mirror(
    side: str, record_id: str, c: Contact, *, version: str | None = None, ext_id: str | None = None
) -> MirrorRecord:
    content = c.content()
    return MirrorRecord(side, record_id, content, hash_content(content), version, ext_id, False)


def state(
    *links: Link, bases: dict[int, dict[str, Any]] | None = None, m_e: Any = (), m_p: Any = (), **kw: Any
) -> PlanState:
    return PlanState(
        links=links,
        bases=bases or {},
        mirror_eshop={r.record_id: r for r in m_e},
        mirror_pohoda={r.record_id: r for r in m_p},
        **kw,
    )


def kinds(plan: Any) -> list[tuple[str, str]]:
    return sorted((op.side, op.kind) for op in plan.ops)


# -- the planner ----------------------------------------------------------------------------


def test_a_new_registration_is_created_in_pohoda() -> None:
    jana = contact(name="Jana Nová", email="jana@example.cz", city="Brno")
    plan = plan_operations([SideRecord("eshop", "e1", jana, version="1")], [], state(), SETTINGS)
    assert kinds(plan) == [("pohoda", "create")]
    [new] = plan.new_links
    assert (new.state, new.eshop_id, new.pohoda_id) == ("creating_pohoda", "e1", None)
    assert plan.ops[0].payload == {"contact": jana.content()}


def test_pohoda_unreachable_gives_the_registration_a_temporary_id_at_once() -> None:
    jana = contact(name="Jana Nová", email="jana@example.cz")
    plan = plan_operations([SideRecord("eshop", "e1", jana)], [], state(pohoda_available=False), SETTINGS)
    assert kinds(plan) == [("eshop", "link"), ("pohoda", "create")]
    link_op = next(op for op in plan.ops if op.kind == "link")
    assert link_op.payload == {"hq_id": temporary_hq_id("12345678", "e1"), "sync_state": "pending_sync"}
    assert [a.operation for a in plan.audits] == ["pending"]


def test_a_counter_contact_is_auto_registered_with_a_welcome_email() -> None:
    petr = contact(name="Petr Pult", email="petr@example.cz")
    plan = plan_operations([], [SideRecord("pohoda", "7", petr)], state(), SETTINGS)
    assert kinds(plan) == [("eshop", "create")]
    payload = plan.ops[0].payload
    assert payload["send_welcome"] is True and payload["hq_id"] == "7"
    assert payload["idempotency_key"] == "pohoda-12345678-7"


def test_a_counter_contact_without_an_email_stays_in_pohoda() -> None:
    plan = plan_operations([], [SideRecord("pohoda", "7", contact(name="Bez Mailu"))], state(), SETTINGS)
    assert plan.ops == [] and plan.new_links == []


def test_a_registration_pohoda_already_has_is_linked_not_copied() -> None:
    pohoda = contact(name="Eva Malá", email="EVA@example.cz", city="Praha")
    plan = plan_operations(
        [SideRecord("eshop", "e1", contact(name="Eva Malá", email="eva@example.cz", city="Praha"))],
        [],
        state(m_p=[mirror("pohoda", "3", pohoda)]),
        SETTINGS,
    )
    assert ("eshop", "link") in kinds(plan) and ("pohoda", "create") not in kinds(plan)
    assert [a.operation for a in plan.audits if a.operation == "match"] == ["match"]
    link = next(op for op in plan.ops if op.kind == "link")
    assert link.payload == {"hq_id": "3", "sync_state": "synced"}


def test_an_edit_on_the_eshop_updates_pohoda_and_one_in_pohoda_updates_the_eshop() -> None:
    base = contact(name="Ivan Černý", email="ivan@example.cz", city="Praha")
    link = Link(1, "e1", "3", None, "linked")
    st = state(
        link,
        bases={1: base.content()},
        m_e=[mirror("eshop", "e1", base, version="v1")],
        m_p=[mirror("pohoda", "3", base, ext_id="e1")],
    )
    on_eshop = plan_operations([SideRecord("eshop", "e1", base.replace(city="Brno"), version="v2")], [], st, SETTINGS)
    assert kinds(on_eshop) == [("pohoda", "update")]
    assert on_eshop.ops[0].payload["contact"]["city"] == "Brno"
    moved = SideRecord("pohoda", "3", base.replace(city="Ostrava"), ext_id="e1")
    in_pohoda = plan_operations([], [moved], st, SETTINGS)
    assert kinds(in_pohoda) == [("eshop", "update")]
    assert in_pohoda.ops[0].payload == {"contact": base.replace(city="Ostrava").content(), "expected_version": "v1"}


def test_a_deletion_on_the_eshop_deletes_in_pohoda_only_by_policy() -> None:
    base = contact(name="Odchozí Zákazník", email="pryc@example.cz")
    link = Link(1, "e1", "3", None, "linked")
    st = state(link, bases={1: base.content()}, m_e=[mirror("eshop", "e1", base)], m_p=[mirror("pohoda", "3", base)])
    kept = plan_operations([SideRecord("eshop", "e1", None)], [], st, SETTINGS)
    assert kept.ops == [] and kept.link_updates == {1: {"state": "deleted_eshop"}}
    deleting = PlanSettings(ico="12345678", delete_in_pohoda=True)
    deleted = plan_operations([SideRecord("eshop", "e1", None)], [], st, deleting)
    assert kinds(deleted) == [("pohoda", "delete")]


def test_an_unsure_pair_waits_for_review_and_writes_nothing() -> None:
    pohoda = contact(name="Jan Novák", phone="+420602111222", birth_date="1980-01-01", city="Brno")
    registration = contact(name="Jan Novák", phone="602 111 222", birth_date="1985-07-02", city="Brno")
    plan = plan_operations(
        [SideRecord("eshop", "e1", registration)], [], state(m_p=[mirror("pohoda", "3", pohoda)]), SETTINGS
    )
    assert plan.ops == [] and plan.new_links == []
    [review] = plan.reviews
    assert (review.record_id, review.candidate_id) == ("e1", "3")
    assert "different birth date" in review.reasons


# -- the merge ------------------------------------------------------------------------------


def test_merge_takes_each_sides_change_and_the_policy_on_a_conflict() -> None:
    base = {"city": "Praha", "email": "a@example.cz", "phone": None}
    eshop = {"city": "Brno", "email": "b@example.cz", "phone": None}
    pohoda = {"city": "Ostrava", "email": "a@example.cz", "phone": "+420601000001"}
    result = merge(base, eshop, pohoda, MergePolicy())
    assert result.content["email"] == "b@example.cz"  # changed on the e-shop only
    assert result.content["phone"] == "+420601000001"  # changed in POHODA only
    assert result.content["city"] == "Ostrava"  # both: billing address, POHODA wins by default
    assert [(c.field, c.winner) for c in result.conflicts] == [("city", "pohoda")]
    eshop_wins = merge(base, eshop, pohoda, MergePolicy({"billing_address": "eshop"}))
    assert eshop_wins.content["city"] == "Brno"


# -- what a result means --------------------------------------------------------------------


def entry(side: str, kind: str, payload: dict[str, Any], entry_id: int = 10) -> OutboxEntry:
    return OutboxEntry(entry_id, "run", 1, side, kind, payload, "pending", 0, None, "now")


JANA = contact(name="Jana Nová", email="jana@example.cz").content()


def test_write_for_builds_each_kind_with_the_links_ids() -> None:
    creating = Link(1, "e1", None, None, "creating_pohoda")
    upsert = write_for(entry("pohoda", "update", {"contact": JANA}), creating)
    assert (upsert.kind, upsert.record_id, upsert.other_id, upsert.ref) == ("create", None, "e1", 10)
    linked = Link(1, "e1", "3", None, "linked")
    update = write_for(entry("pohoda", "update", {"contact": JANA}), linked)
    assert (update.kind, update.record_id, update.other_id) == ("update", "3", "e1")
    delete = write_for(entry("pohoda", "delete", {}), linked)
    assert (delete.kind, delete.record_id) == ("delete", "3")
    link = write_for(entry("eshop", "link", {"hq_id": "3", "sync_state": "synced"}), linked)
    assert (link.kind, link.record_id, link.other_id, link.sync_state) == ("link", "e1", "3", "synced")
    auto = Link(2, None, "7", None, "creating_eshop")
    payload = {"contact": JANA, "idempotency_key": "k", "send_welcome": True, "hq_id": "7", "sync_state": "synced"}
    create = write_for(entry("eshop", "create", payload), auto)
    assert (create.kind, create.other_id, create.idempotency_key, create.send_welcome) == ("create", "7", "k", True)


def test_pohoda_creating_a_registration_links_it_and_tells_the_eshop() -> None:
    creating = Link(1, "e1", None, None, "creating_pohoda")
    outcome = interpret(entry("pohoda", "create", {"contact": JANA}), creating, WriteResult("done", record_id="3"))
    assert outcome.outbox_state == "done" and outcome.counter == "delivered"
    assert outcome.link_values == {"pohoda_id": "3", "state": "linked"}
    assert [(f.side, f.kind, f.payload) for f in outcome.follow_ups] == [
        ("eshop", "link", {"hq_id": "3", "sync_state": "synced"})
    ]
    assert outcome.audit["pohoda_id"] == "3" and outcome.audit["result"] == "done"


def test_an_update_done_changes_no_link() -> None:
    linked = Link(1, "e1", "3", None, "linked")
    outcome = interpret(entry("pohoda", "update", {"contact": JANA}), linked, WriteResult("done", replay=True))
    assert outcome.link_values == {} and outcome.follow_ups == ()
    assert outcome.audit["note"] == "already imported (replay)"


def test_pohoda_refusing_a_registration_makes_it_pending() -> None:
    creating = Link(1, "e1", None, None, "creating_pohoda")
    refused = WriteResult("refused", reason="IČO is invalid", field="ico", errors=("IČO is invalid",))
    outcome = interpret(entry("pohoda", "create", {"contact": JANA}), creating, refused)
    assert (outcome.outbox_state, outcome.counter, outcome.goes_pending) == ("refused", "refused", True)
    assert outcome.audit["detail"] == {"errors": ["IČO is invalid"], "field": "ico"}
    linked = Link(1, "e1", "3", None, "linked")
    assert not interpret(entry("pohoda", "update", {"contact": JANA}), linked, refused).goes_pending


def test_an_eshop_create_done_links_and_tells_pohoda_the_account_id() -> None:
    auto = Link(2, None, "7", None, "creating_eshop")
    payload = {"contact": JANA, "idempotency_key": "k", "send_welcome": True, "hq_id": "7", "sync_state": "synced"}
    outcome = interpret(entry("eshop", "create", payload), auto, WriteResult("done", record_id="e9"))
    assert outcome.link_values == {"eshop_id": "e9", "state": "linked"}
    assert [(f.side, f.kind) for f in outcome.follow_ups] == [("pohoda", "update")]
    assert outcome.audit["note"] == "welcome e-mail requested"


def test_a_conflict_is_merged_again_next_run() -> None:
    linked = Link(1, "e1", "3", None, "linked")
    outcome = interpret(entry("eshop", "update", {"contact": JANA}), linked, WriteResult("conflict", reason="stale"))
    assert (outcome.outbox_state, outcome.counter, outcome.link_values) == ("superseded", "conflicts", {})
    assert outcome.audit["result"] == "conflict"


def test_an_email_taken_meanwhile_links_to_that_account_unless_it_is_linked_already() -> None:
    auto = Link(2, None, "7", None, "creating_eshop")
    payload = {"contact": JANA, "idempotency_key": "k", "send_welcome": True, "hq_id": "7", "sync_state": "synced"}
    taken = WriteResult("taken", record_id="e5", reason="e-mail taken")
    outcome = interpret(entry("eshop", "create", payload), auto, taken)
    assert outcome.outbox_state == "superseded" and outcome.audit["operation"] == "match"
    assert outcome.link_values == {"eshop_id": "e5", "state": "linked"}
    assert [(f.side, f.kind, f.payload.get("hq_id")) for f in outcome.follow_ups] == [
        ("eshop", "link", "7"),
        ("pohoda", "update", None),
    ]
    other_customers = interpret(entry("eshop", "create", payload), auto, taken, taken_is_linked=True)
    assert (other_customers.outbox_state, other_customers.link_values) == ("refused", {})


def test_with_the_connector_sending_the_welcome_the_shop_is_asked_for_none() -> None:
    petr = contact(name="Petr Pult", email="petr@example.cz")
    settings = PlanSettings(ico="12345678", welcome_by_connector=True)
    plan = plan_operations([], [SideRecord("pohoda", "7", petr)], state(), settings)
    [create] = plan.ops
    assert create.payload["send_welcome"] is False and create.payload["welcome"] == "connector"


def test_the_accounts_creation_queues_its_welcome_and_the_welcome_result_is_audited() -> None:
    auto = Link(2, None, "7", None, "creating_eshop")
    payload = {
        "contact": JANA,
        "idempotency_key": "k",
        "send_welcome": False,
        "welcome": "connector",
        "hq_id": "7",
        "sync_state": "synced",
    }
    outcome = interpret(entry("eshop", "create", payload), auto, WriteResult("done", record_id="e9"))
    assert [(f.side, f.kind, f.payload["account_id"]) for f in outcome.follow_ups if f.side == "mail"] == [
        ("mail", "welcome", "e9")
    ]
    mail = entry("mail", "welcome", {"contact": JANA, "account_id": "e9"}, entry_id=11)
    write = write_for(mail, Link(2, "e9", "7", None, "linked"))
    assert (write.kind, write.record_id, write.ref) == ("welcome", "e9", 11)
    sent = interpret(mail, Link(2, "e9", "7", None, "linked"), WriteResult("done", version="<id@shop>"))
    assert (sent.outbox_state, sent.counter, sent.audit["side"]) == ("done", "delivered", "mail")
    bounced = interpret(mail, Link(2, "e9", "7", None, "linked"), WriteResult("refused", reason="550"))
    assert (bounced.outbox_state, bounced.counter) == ("refused", "refused")


def test_a_registration_matching_a_contact_with_an_account_becomes_a_second_account() -> None:
    marie = contact(name="Marie Dvořáková", phone="+420603222333", email="marie@example.cz")
    link = Link(1, "e1", "3", None, "linked")
    st = state(
        link,
        bases={1: marie.content()},
        m_e=[mirror("eshop", "e1", marie)],
        m_p=[mirror("pohoda", "3", marie, ext_id="e1")],
    )
    again = SideRecord("eshop", "e2", marie.replace(email="marie.d@jinde.cz", phone="603 222 333"))
    plan = plan_operations([again], [], st, SETTINGS)
    assert kinds(plan) == [("eshop", "link")]  # no POHODA create
    [new] = plan.new_links
    assert (new.state, new.eshop_id, new.pohoda_id, new.contact_of) == ("secondary", "e2", None, "3")
    assert plan.ops[0].payload == {"hq_id": "3", "sync_state": "synced"}
