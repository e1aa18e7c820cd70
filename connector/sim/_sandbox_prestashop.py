"""The PrestaShop simulator as the sandbox drives it (`Sandbox(platform="prestashop")`).

Platform names: "prestashop" and "prestashop-8" run a PrestaShop 8 shop, "prestashop-1.7" a
1.7 one; the connector is configured with `[eshop] platform = "prestashop"` either way and
finds the version in the `PSWS-Version` header. The shop's clock is Europe/Prague wall time,
as `[eshop] timezone` defaults to.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.codec import prestashop as codec
from connector.errors import BadData
from connector.model import Contact
from connector.sim._mail_sink import MailSink
from connector.sim._prestashop_rules import Version
from connector.sim._server import RunningServer
from connector.sim.prestashop import PrestaShopSimulator

SANDBOX_KEY = "SANDBOXPRESTASHOPKEY000000000000"  # 32 characters, like a real webservice key
ZONE = zoneinfo.ZoneInfo("Europe/Prague")


def _prague_now() -> dt.datetime:
    return dt.datetime.now(ZONE).replace(tzinfo=None)


class PrestaShopBox:
    """A PrestaShop shop on a loopback port, driven in canonical contacts.

    `contacts()` reads the shop's rows through the codec (what the shop holds, as a contact);
    `hq_id` and `sync_state` are always None: PrestaShop keeps neither, the link is the
    connector's. `mails()` are the welcome e-mails the connector sent to the box's SMTP sink.
    `register` is a storefront registration (the shop's own welcome mail is recorded), `edit`
    a back-office edit (an address edit moves only the address's date_upd).
    """

    def __init__(self, seed: Iterable[Contact | Mapping[str, Any]] = (), *, version: Version = "8") -> None:
        self.sim = PrestaShopSimulator(version=version, key=SANDBOX_KEY, clock=_prague_now)
        self.server = RunningServer(self.sim.app).start()
        self.sim.base_url = self.server.url
        # The webservice sends no welcome e-mail (§1): the connector does, to this server.
        self.mail = MailSink()
        self.env = {
            "CONNECTOR_ESHOP_PLATFORM": "prestashop",
            "CONNECTOR_ESHOP_URL": self.server.url,
            "CONNECTOR_ESHOP_KEY": SANDBOX_KEY,
            "CONNECTOR_ESHOP_TIMEZONE": "Europe/Prague",
            "CONNECTOR_MAIL_URL": self.mail.url,
            "CONNECTOR_MAIL_SENDER": "Sandbox Shop <noreply@shop.example>",
            "CONNECTOR_MAIL_SHOP_NAME": "Sandbox Shop",
            "CONNECTOR_MAIL_SHOP_URL": self.server.url,
            # PrestaShop's own page for a forgotten password (controller=password).
            "CONNECTOR_MAIL_RESET_URL": f"{self.server.url}/password-recovery",
        }
        for contact in seed:
            self.register(contact)
        with self.sim.shop.lock:
            self.sim.shop.notifications.clear()  # seeded customers registered long ago

    def _countries(self) -> codec.CountryTable:
        with self.sim.shop.lock:
            rows = list(self.sim.shop.tables["countries"].values())
        return codec.CountryTable({row.values["id"]: row.values["iso_code"] for row in rows})

    def _read(self, customer_id: int) -> tuple[codec.ShopCustomer, list[codec.ShopAddress]]:
        row = self.sim.customer(customer_id)
        if row is None:
            raise KeyError(f"no customer {customer_id}")
        addresses = [codec.ShopAddress(a.values) for a in self.sim.addresses()]
        return codec.ShopCustomer(row.values, tuple(row.groups)), addresses

    def contacts(self) -> list[dict[str, Any]]:
        countries = self._countries()
        addresses = [codec.ShopAddress(a.values) for a in self.sim.addresses()]
        out = []
        for row in self.sim.customers():
            if row.values.get("deleted") == "1" or row.values.get("is_guest") == "1":
                continue
            contact = codec.to_contact(codec.ShopCustomer(row.values, tuple(row.groups)), addresses, countries)
            out.append({**contact.to_dict(), "hq_id": None, "sync_state": None})
        return out

    def notifications(self) -> list[dict[str, Any]]:
        with self.sim.shop.lock:
            return [{**n, "customer_id": str(n["customer_id"])} for n in self.sim.shop.notifications]

    def register(self, contact: Contact | Mapping[str, Any]) -> str:
        """The storefront's form: the customer, and the billing (and delivery) addresses when the
        contact has a street, a city and a country (PrestaShop keeps phones and company ids on
        an address, so a contact without one registers without them)."""
        data = contact if isinstance(contact, Contact) else Contact.from_dict(dict(contact))
        try:
            write = codec.plan_contact_write(data, self._countries())
        except BadData:
            write = codec.plan_contact_write(
                Contact(name=data.name, email=data.email, company=data.company), self._countries()
            )
        fields = {k: v for k, v in write.customer.fields.items() if k in codec.CUSTOMER_OWNED or k == "siret"}
        addresses: list[Mapping[str, str]] = [
            {k: v for k, v in w.address.fields.items() if k != "id_customer"} for w in write.addresses
        ]
        return str(self.sim.register(fields, addresses))

    def edit(self, customer_id: str, **changes: Any) -> None:
        """A back-office edit in canonical fields: each record whose fields change is edited."""
        customer, addresses = self._read(int(customer_id))
        countries = self._countries()
        current = codec.to_contact(customer, addresses, countries)
        write = codec.plan_contact_write(
            current.replace(**changes), countries, current=customer, current_addresses=addresses
        )
        customer_changes = codec.changed_fields(customer.fields, write.customer.fields)
        if customer_changes:
            self.sim.edit_customer(int(customer_id), **customer_changes)
        live = {a.id: a for a in addresses}
        for item in write.addresses:
            if item.action == "create":
                fields = {k: v for k, v in item.address.fields.items() if k != "id_customer"}
                self.sim.add_address(int(customer_id), fields)
            elif item.action == "delete":
                self.sim.delete("addresses", int(item.address.id or 0))
            else:
                before = live[item.address.id]
                address_changes = codec.changed_fields(before.fields, item.address.fields)
                if address_changes:
                    self.sim.edit_address(int(item.address.id or 0), **address_changes)

    def edit_raw(self, customer_id: str, **fields: str) -> None:
        """A back-office edit of the customer's own PrestaShop fields (note, birthday, newsletter)."""
        self.sim.edit_customer(int(customer_id), **fields)

    def delete(self, customer_id: str) -> None:
        self.sim.delete("customers", int(customer_id))

    def faults(self, **settings: Any) -> None:
        self.sim.faults.configure(settings)

    def stats(self) -> dict[str, Any]:
        return self.sim.stats_dict()

    def mails(self) -> list[dict[str, Any]]:
        """The e-mails the connector sent (the welcome of each account it made): recipients,
        Message-ID, Subject."""
        return self.mail.summary()

    def close(self) -> None:
        self.server.stop()
        self.mail.close()


# Sandbox platform name -> the box (SHOP_BOXES takes these).
PRESTASHOP_BOXES: dict[str, Callable[[Iterable[Contact | Mapping[str, Any]]], PrestaShopBox]] = {
    "prestashop": PrestaShopBox,
    "prestashop-8": functools.partial(PrestaShopBox, version="8"),
    "prestashop-1.7": functools.partial(PrestaShopBox, version="1.7"),
}
