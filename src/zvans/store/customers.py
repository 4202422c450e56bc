"""Customers: known callers, their numbers and their PIN (seed 004)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.security.passwords import hash_password
from zvans.store import validate
from zvans.store.models import Customer, CustomerPhone


def add_customer(session: Session, org_id: int, name: str, phones: list[str],
                 notes: str = "") -> Customer:
    name = validate.text(name, "name", required=True)
    numbers = [validate.phone(p, "phones", required=True) for p in phones]
    if not numbers:
        raise InvalidInput("phones", "At least one phone number is required.")
    for number in numbers:
        if session.scalar(select(CustomerPhone.id).where(
            CustomerPhone.org_id == org_id, CustomerPhone.number == number)):
            raise Conflict(f"Number {number} already belongs to a customer.",
                           code="duplicate-phone", field="phones")
    customer = Customer(org_id=org_id, name=name, notes=validate.text(notes, "notes",
                                                                       max_len=4000))
    customer.phones = [CustomerPhone(org_id=org_id, number=n) for n in dict.fromkeys(numbers)]
    session.add(customer)
    session.flush()
    return customer


def by_phone(session: Session, org_id: int, number: str) -> Customer | None:
    return session.scalar(
        select(Customer).join(CustomerPhone).where(
            CustomerPhone.org_id == org_id, CustomerPhone.number == number)
    )


def get_customer(session: Session, org_id: int, customer_id: int) -> Customer:
    row = session.get(Customer, customer_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No customer {customer_id}.", code="no-such-customer")
    return row


def set_pin(session: Session, customer: Customer, pin: str | None) -> None:
    """Set or reset (None) the customer's PIN; only its argon2 hash is kept."""
    if pin is None:
        customer.pin_hash = None
        return
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise InvalidInput("pin", "A PIN is 4 to 12 digits.", code="bad-pin-format")
    customer.pin_hash = hash_password(pin)
