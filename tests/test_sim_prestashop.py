"""The PrestaShop simulator over real loopback HTTP, on both versions: the webservice's strict
behaviour (full-replace PUT, PATCH only on 8, date=1, passwd, duplicate e-mail, auth, paging)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from connector.codec import prestashop as codec
from connector.sim._server import serve_in_thread
from connector.sim.prestashop import DEFAULT_KEY, PrestaShopSimulator

CUSTOMER = (
    "<prestashop><customer>"
    "<passwd>Secret-123</passwd><lastname>Nováková</lastname><firstname>Jana</firstname>"
    "<email>{email}</email><active>1</active><newsletter>1</newsletter><birthday>1980-02-03</birthday>"
    "<note>VIP customer</note><id_default_group>3</id_default_group>"
    "</customer></prestashop>"
)
ADDRESS = (
    "<prestashop><address><id_customer>{customer}</id_customer><id_country>16</id_country>"
    "<alias>Home</alias><lastname>Nováková</lastname><firstname>Jana</firstname>"
    "<address1>Dlouhá 5</address1><postcode>110 00</postcode><city>Praha</city></address></prestashop>"
)


@pytest.fixture(scope="module", params=["1.7", "8"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[PrestaShopSimulator, str]]:
    sim = PrestaShopSimulator(version=request.param)
    with serve_in_thread(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def sim(served: tuple[PrestaShopSimulator, str]) -> PrestaShopSimulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def http(served: tuple[PrestaShopSimulator, str], sim: PrestaShopSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], auth=(DEFAULT_KEY, ""), timeout=5) as client:
        yield client


def errors(response: httpx.Response) -> list[tuple[int | None, str]]:
    return [(e.code, e.message) for e in codec.decode_errors(response.content)]


def codes(response: httpx.Response) -> list[int | None]:
    return [code for code, _ in errors(response)]


def create(http: httpx.Client, email: str = "jana@example.cz") -> codec.ShopCustomer:
    answer = http.post("/api/customers", content=CUSTOMER.format(email=email).encode())
    assert answer.status_code == 201, answer.text
    return codec.decode_customer(answer.content)


def put_body(customer: codec.ShopCustomer, *, drop: tuple[str, ...] = (), **changes: str) -> bytes:
    fields = {k: v for k, v in customer.fields.items() if k not in drop}
    fields.update(changes)
    root = etree.Element("prestashop")
    record = etree.SubElement(root, "customer")
    for name, value in fields.items():
        etree.SubElement(record, name).text = value or None
    return etree.tostring(root)


# -- writes -------------------------------------------------------------------------------------


def test_create_answers_201_with_the_full_record_and_the_version_header(
    http: httpx.Client, sim: PrestaShopSimulator
) -> None:
    answer = http.post("/api/customers", content=CUSTOMER.format(email="jana@example.cz").encode())
    assert answer.status_code == 201
    assert answer.headers["PSWS-Version"] == {"1.7": "1.7.8.11", "8": "8.1.7"}[sim.version]
    assert answer.headers["Content-Sha1"]
    customer = codec.decode_customer(answer.content)
    assert customer.get("firstname") == "Jana" and customer.get("note") == "VIP customer"
    assert customer.get("passwd") != "Secret-123" and len(customer.get("passwd")) == 60  # stored hashed
    assert len(customer.get("secure_key")) == 32
    assert customer.get("date_add") == customer.get("date_upd")
    assert customer.groups == ("3",)
    # No welcome e-mail through the webservice (eshop-platforms.md §1).
    assert http.get("/_sim/notifications").text == ""


def test_a_create_without_passwd_is_refused_with_code_41(http: httpx.Client) -> None:
    body = CUSTOMER.format(email="x@example.cz").replace("<passwd>Secret-123</passwd>", "")
    answer = http.post("/api/customers", content=body.encode())
    assert answer.status_code == 400
    assert errors(answer) == [(41, 'parameter "passwd" required')]


def test_a_create_with_an_id_is_refused_with_code_91(http: httpx.Client) -> None:
    body = CUSTOMER.format(email="x@example.cz").replace("<customer>", "<customer><id>9</id>")
    answer = http.post("/api/customers", content=body.encode())
    assert (answer.status_code, codes(answer)) == (400, [91])


def test_a_create_without_active_gives_an_inactive_customer(http: httpx.Client) -> None:
    # A POST sets every field it leaves out to NULL, over the class default active=true.
    body = CUSTOMER.format(email="x@example.cz").replace("<active>1</active>", "")
    customer = codec.decode_customer(http.post("/api/customers", content=body.encode()).content)
    assert customer.get("active") == "0"


def test_a_duplicate_email_is_500_with_codes_140_and_46(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    create(http, "jana@example.cz")
    answer = http.post("/api/customers", content=CUSTOMER.format(email="JANA@example.cz").encode())
    assert answer.status_code == 500
    assert errors(answer) == [
        (140, "The email is already used, please choose another one"),
        (46, "Unable to save resource"),
    ]
    assert len(sim.customers()) == 1


def test_an_update_to_a_taken_email_is_500_with_code_141(http: httpx.Client) -> None:
    create(http, "jana@example.cz")
    petr = create(http, "petr@example.cz")
    answer = http.put(f"/api/customers/{petr.id}", content=put_body(petr, email="jana@example.cz"))
    assert (answer.status_code, codes(answer)) == (500, [141, 46])


def test_put_omitting_a_field_wipes_it(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    jana = create(http)
    sim.advance_clock(2)
    answer = http.put(f"/api/customers/{jana.id}", content=put_body(jana, drop=("note", "birthday", "active")))
    assert answer.status_code == 200, answer.text
    after = codec.decode_customer(answer.content)
    assert after.get("note") == "" and after.get("birthday") == "0000-00-00" and after.get("active") == "0"
    assert after.get("firstname") == "Jana"
    assert after.get("passwd") == jana.get("passwd")  # the hash echoed back is kept
    assert after.get("date_upd") > jana.get("date_upd")
    assert after.groups == ("3",)  # associations are not wiped by a PUT without them


def test_put_echoing_the_whole_record_changes_nothing_but_date_upd(
    http: httpx.Client, sim: PrestaShopSimulator
) -> None:
    jana = create(http)
    sim.advance_clock(1)
    after = codec.decode_customer(http.put(f"/api/customers/{jana.id}", content=put_body(jana)).content)
    assert {k: v for k, v in after.fields.items() if k != "date_upd"} == {
        k: v for k, v in jana.fields.items() if k != "date_upd"
    }


def test_put_needs_passwd_every_time(http: httpx.Client) -> None:
    jana = create(http)
    answer = http.put(f"/api/customers/{jana.id}", content=put_body(jana, drop=("passwd",)))
    assert answer.status_code == 400
    assert errors(answer) == [(41, 'parameter "passwd" required')]


def test_put_needs_the_id_in_the_body(http: httpx.Client) -> None:
    jana = create(http)
    answer = http.put(f"/api/customers/{jana.id}", content=put_body(jana, drop=("id",)))
    assert (answer.status_code, codes(answer)) == (400, [90])
    answer = http.put("/api/customers/999", content=put_body(jana, id="999"))
    assert (answer.status_code, codes(answer)) == (404, [92])


def test_patch(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    jana = create(http)
    body = f"<prestashop><customer><id>{jana.id}</id><lastname>Dvořáková</lastname></customer></prestashop>"
    answer = http.patch(f"/api/customers/{jana.id}", content=body.encode())
    if sim.version == "1.7":
        # PATCH arrived in 8.0 (PrestaShop/PrestaShop#27952); 1.7: "Method PATCH is not valid".
        assert (answer.status_code, codes(answer)) == (405, [23])
        assert sim.customer(int(jana.id or 0)).values["lastname"] == "Nováková"  # type: ignore[union-attr]
        return
    assert answer.status_code == 200, answer.text
    after = codec.decode_customer(answer.content)
    assert after.get("lastname") == "Dvořáková"
    # Every other field is kept, passwd need not be sent.
    for field in ("firstname", "email", "note", "birthday", "newsletter", "active", "passwd", "secure_key"):
        assert after.get(field) == jana.get(field), field


def test_ps_method_overrides_the_http_method(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    jana = create(http)
    answer = http.post(f"/api/customers/{jana.id}", params={"ps_method": "DELETE"})
    assert answer.status_code == 200 and answer.content == b""
    assert sim.customers() == []


def test_validation_refuses_digits_in_address_names_and_names_no_value(http: httpx.Client) -> None:
    jana = create(http)
    body = ADDRESS.format(customer=jana.id).replace("<firstname>Jana</firstname>", "<firstname>Jana2</firstname>")
    answer = http.post("/api/addresses", content=body.encode())
    assert answer.status_code == 400
    assert errors(answer) == [(85, 'Validation error: "Property Address->firstname is not valid"')]
    assert "Jana2" not in answer.text


@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        ("<lastname>Nováková</lastname>", "<lastname>Nov@ková</lastname>", "Property Customer->lastname is not valid"),
        ("<email>x@example.cz</email>", "<email>not an email</email>", "Property Customer->email is not valid"),
        ("<active>1</active>", "<active>true</active>", "Property Customer->active is not valid"),
        (
            "<birthday>1980-02-03</birthday>",
            "<birthday>2999-01-01</birthday>",
            "Property Customer->birthday is not valid",
        ),
        ("<firstname>Jana</firstname>", "<firstname></firstname>", "Property Customer->firstname is empty."),
    ],
)
def test_customer_validators(http: httpx.Client, good: str, bad: str, message: str) -> None:
    body = CUSTOMER.format(email="x@example.cz").replace(good, bad)
    answer = http.post("/api/customers", content=body.encode())
    assert (answer.status_code, errors(answer)) == (400, [(85, f'Validation error: "{message}"')])


def test_customer_names_may_carry_a_dot_followed_by_a_space_only(http: httpx.Client) -> None:
    ok = CUSTOMER.format(email="a@example.cz").replace("<firstname>Jana</firstname>", "<firstname>J. Jana</firstname>")
    assert http.post("/api/customers", content=ok.encode()).status_code == 201
    bad = CUSTOMER.format(email="b@example.cz").replace("<firstname>Jana</firstname>", "<firstname>J.Jana</firstname>")
    assert codes(http.post("/api/customers", content=bad.encode())) == [85]


def test_malformed_xml_is_500_code_127(http: httpx.Client) -> None:
    answer = http.post("/api/customers", content=b"<prestashop><customer>")
    assert (answer.status_code, codes(answer)) == (500, [127])


def test_an_address_edit_changes_only_that_address_date_upd(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    jana = create(http)
    first = codec.decode_address(http.post("/api/addresses", content=ADDRESS.format(customer=jana.id).encode()).content)
    second = codec.decode_address(
        http.post("/api/addresses", content=ADDRESS.format(customer=jana.id).encode()).content
    )
    before = codec.decode_customer(http.get(f"/api/customers/{jana.id}").content)
    sim.advance_clock(5)
    edited = http.patch(f"/_sim/addresses/{first.id}", json={"city": "Brno"})
    assert edited.status_code == 200
    assert edited.json()["date_upd"] > (first.date_upd or "")
    assert codec.decode_customer(http.get(f"/api/customers/{jana.id}").content).date_upd == before.date_upd
    assert codec.decode_address(http.get(f"/api/addresses/{second.id}").content).date_upd == second.date_upd
    # The change feed on customers does not see it; the one on addresses does. (The three
    # records may have been written in different seconds: the window starts after all of them.)
    mark = max(before.date_upd or "", first.date_upd or "", second.date_upd or "")
    since = {"date": "1", "filter[date_upd]": f">[{mark}]", "display": "[id]"}
    assert codec.decode_ids(http.get("/api/customers", params=since).content) == []
    assert [a.id for a in codec.decode_addresses(http.get("/api/addresses", params=since).content)] == [first.id]  # type: ignore[union-attr]


def test_a_back_office_customer_edit_is_validated_and_moves_date_upd(
    http: httpx.Client, sim: PrestaShopSimulator
) -> None:
    jana = create(http)
    sim.advance_clock(3)
    assert http.patch(f"/_sim/customers/{jana.id}", json={"firstname": "J4na"}).status_code == 400
    changed = http.patch(f"/_sim/customers/{jana.id}", json={"firstname": "Janka"}).json()
    assert changed["firstname"] == "Janka" and changed["date_upd"] > (jana.date_upd or "")


def test_a_storefront_registration_sends_the_welcome_mail(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    answer = http.post(
        "/_sim/register",
        json={
            "firstname": "Petr",
            "lastname": "Dvořák",
            "email": "petr@example.cz",
            "passwd": "Secret-123",
            "addresses": [
                {"alias": "Home", "firstname": "Petr", "lastname": "Dvořák", "address1": "Krátká 1",
                 "city": "Brno", "id_country": "16", "postcode": "602 00"}
            ],
        },
    )  # fmt: skip
    assert answer.status_code == 201
    customer = sim.customer(answer.json()["id"])
    assert customer is not None and customer.values["active"] == "1" and customer.groups == ["3"]
    assert [json.loads(line)["customer_id"] for line in http.get("/_sim/notifications").text.splitlines()] == [
        customer.id
    ]
    assert len(sim.addresses()) == 1


# -- deletes ------------------------------------------------------------------------------------


def test_delete_hard_deletes_and_a_used_address_is_kept_as_deleted(
    http: httpx.Client, sim: PrestaShopSimulator
) -> None:
    jana = create(http)
    used = codec.decode_address(http.post("/api/addresses", content=ADDRESS.format(customer=jana.id).encode()).content)
    spare = codec.decode_address(http.post("/api/addresses", content=ADDRESS.format(customer=jana.id).encode()).content)
    assert http.post(f"/_sim/addresses/{used.id}/used").status_code == 204
    assert http.delete(f"/api/addresses/{spare.id}").status_code == 200
    assert http.delete(f"/api/addresses/{used.id}").status_code == 200
    assert [(a.id, a.values["deleted"]) for a in sim.addresses()] == [(int(used.id or 0), "1")]
    assert http.get(f"/api/addresses/{spare.id}").status_code == 404
    answer = http.delete("/api/customers", params={"id": f"[{jana.id},999]"})
    assert (answer.status_code, codes(answer)) == (404, [87])
    assert len(sim.customers()) == 1


# -- lists --------------------------------------------------------------------------------------


def test_a_date_filter_is_refused_without_date_1(http: httpx.Client) -> None:
    create(http)
    answer = http.get("/api/customers", params={"filter[date_upd]": ">[2000-01-01 00:00:00]", "display": "full"})
    assert (answer.status_code, codes(answer)) == (400, [32])
    answer = http.get("/api/customers", params={"sort": "[date_upd_ASC]"})
    assert (answer.status_code, codes(answer)) == (400, [38])
    answer = http.get(
        "/api/customers", params={"filter[date_upd]": ">[2000-01-01 00:00:00]", "sort": "[date_upd_ASC]", "date": "1"}
    )
    assert answer.status_code == 200 and len(codec.decode_ids(answer.content)) == 1


def test_date_interval_is_inclusive_at_both_ends(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    first = create(http, "a@example.cz")
    sim.advance_clock(10)
    second = create(http, "b@example.cz")
    window = f"[{first.date_upd},{second.date_upd}]"
    answer = http.get(
        "/api/customers",
        params={"date": "1", "filter[date_upd]": window, "sort": "[date_upd_ASC,id_ASC]", "display": "[id]"},
    )
    assert [c.id for c in codec.decode_customers(answer.content)] == [first.id, second.id]  # type: ignore[union-attr]


def test_paging_with_limit_offset_count_and_sort(http: httpx.Client) -> None:
    ids = [create(http, f"c{i}@example.cz").id for i in range(5)]
    pages = []
    for offset in range(0, 6, 2):
        answer = http.get("/api/customers", params={"sort": "[id_ASC]", "limit": f"{offset},2"})
        assert answer.status_code == 200
        pages.append(codec.decode_ids(answer.content))
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]  # no total: the short page is the last
    assert codec.decode_ids(http.get("/api/customers", params={"sort": "[id_DESC]", "limit": "2"}).content) == [
        ids[4],
        ids[3],
    ]
    answer = http.get("/api/customers", params={"limit": "1,2,3"})
    assert (answer.status_code, codes(answer)) == (400, [39])
    answer = http.get("/api/customers", params={"sort": "[id_UP]"})
    assert (answer.status_code, codes(answer)) == (400, [37])


def test_filters_or_and_like(http: httpx.Client) -> None:
    a = create(http, "anna@example.cz").id
    b = create(http, "bara@example.sk").id
    create(http, "cyril@example.cz")
    found = codec.decode_ids(
        http.get("/api/customers", params={"filter[id]": f"[{a}|{b}]", "sort": "[id_ASC]"}).content
    )
    assert found == [a, b]
    assert codec.decode_ids(http.get("/api/customers", params={"filter[email]": "%[example.sk]"}).content) == [b]
    assert codec.decode_ids(http.get("/api/customers", params={"filter[email]": "[ANNA@EXAMPLE.CZ]"}).content) == [a]
    answer = http.get("/api/customers", params={"filter[nope]": "[1]"})
    assert (answer.status_code, codes(answer)) == (400, [32])


def test_display_minimum_full_and_fields(http: httpx.Client) -> None:
    jana = create(http)
    minimum = etree.fromstring(http.get("/api/customers").content)
    [item] = minimum.find("customers")  # type: ignore[union-attr]
    assert item.get("id") == jana.id and len(item) == 0
    assert item.get("{http://www.w3.org/1999/xlink}href", "").endswith(f"/api/customers/{jana.id}")
    [full] = codec.decode_customers(http.get("/api/customers", params={"display": "full"}).content)
    assert isinstance(full, codec.ShopCustomer) and full.get("note") == "VIP customer"
    [some] = codec.decode_customers(http.get("/api/customers", params={"display": "[id,email]"}).content)
    assert isinstance(some, codec.ShopCustomer) and dict(some.fields) == {"id": jana.id, "email": "jana@example.cz"}
    answer = http.get("/api/customers", params={"display": "[id,nope]"})
    assert (answer.status_code, codes(answer)) == (400, [35])


def test_countries_have_iso_codes_and_cannot_be_written(http: httpx.Client) -> None:
    table = codec.decode_countries(http.get("/api/countries", params={"display": "[id,iso_code]"}).content)
    assert table.id_for("CZ") == "16" and table.iso("37") == "SK"
    answer = http.post("/api/countries", content=b"<prestashop><country/></prestashop>")
    assert (answer.status_code, codes(answer)) == (405, [25])


# -- access -------------------------------------------------------------------------------------


def test_auth(served: tuple[PrestaShopSimulator, str], sim: PrestaShopSimulator) -> None:
    url = served[1] + "/api/customers"
    no_key = httpx.get(url)
    assert no_key.status_code == 401 and codes(no_key) == [16]
    assert "PSWS-Version" not in no_key.headers and "Basic" in no_key.headers["WWW-Authenticate"]
    assert codes(httpx.get(url, auth=("short", ""))) == [18]
    wrong = httpx.get(url, auth=("X" * 32, ""))
    assert (wrong.status_code, codes(wrong)) == (401, [20, 21])
    # The dispatcher reads only the user (PHP_AUTH_USER); a password is not checked.
    assert httpx.get(url, auth=(DEFAULT_KEY, "anything")).status_code == 200
    assert httpx.get(url, params={"ws_key": DEFAULT_KEY}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer " + DEFAULT_KEY}).status_code == 401


def test_an_unknown_resource_is_400_code_27(http: httpx.Client) -> None:
    answer = http.get("/api/customer")
    assert (answer.status_code, codes(answer)) == (400, [27])
    assert 'Did you mean: "customers"' in errors(answer)[0][1]


def test_a_disabled_webservice_is_503_code_22(http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"webservice_enabled": False})
    answer = http.get("/api/customers")
    assert (answer.status_code, codes(answer)) == (503, [22])


def test_faults_apply_to_every_api_path(http: httpx.Client) -> None:
    jana = create(http)
    http.post("/_sim/faults", json={"error_next": 1})
    assert http.get(f"/api/customers/{jana.id}").status_code == 503
    assert http.get(f"/api/customers/{jana.id}").status_code == 200


def test_stats_count_requests_by_method_and_resource_and_writes(http: httpx.Client) -> None:
    jana = create(http)
    http.get("/api/customers")
    http.put(f"/api/customers/{jana.id}", content=put_body(jana))
    http.put(f"/api/customers/{jana.id}", content=put_body(jana, drop=("passwd",)))  # refused: no write
    stats = http.get("/_sim/stats").json()
    assert stats["calls"] == {"POST customers": 1, "GET customers": 1, "PUT customers": 2}
    assert stats["writes"] == {"customers": 2}


def test_conditional_get_on_8(http: httpx.Client, sim: PrestaShopSimulator) -> None:
    jana = create(http)
    first = http.get(f"/api/customers/{jana.id}")
    again = http.get(f"/api/customers/{jana.id}", headers={"Local-Content-Sha1": first.headers["Content-Sha1"]})
    assert again.status_code == (304 if sim.version == "8" else 200)


def test_date_upd_is_shop_local_time_without_a_zone() -> None:
    # ObjectModel writes date('Y-m-d H:i:s'): the server's local wall time, 1-second steps.
    sim = PrestaShopSimulator(version="8", clock=lambda: dt.datetime(2026, 3, 29, 2, 30, 15, 999999))
    with serve_in_thread(sim.app) as server, httpx.Client(base_url=server.url, auth=(DEFAULT_KEY, "")) as http:
        jana = create(http)
        assert (jana.get("date_add"), jana.get("date_upd")) == ("2026-03-29 02:30:15", "2026-03-29 02:30:15")
        sim.advance_clock(0.5)  # 15.999999 s + 0.5 s: truncated to whole seconds, no zone
        after = codec.decode_customer(http.put(f"/api/customers/{jana.id}", content=put_body(jana)).content)
        assert after.date_upd == "2026-03-29 02:30:16"
