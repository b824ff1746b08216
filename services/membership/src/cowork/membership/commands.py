"""The membership use cases: each changes state and writes its events in the caller's
transaction (the outbox), and schedules or cancels the time-driven work it implies."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale

from cowork.membership import domain, store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event, add_events, add_tombstone, erase_payloads

SOURCE = "/cowork/membership"
EXPIRE_JOB = "membership.expire"
EXPIRING_JOB = "membership.expiring"


# ---------------------------------------------------------------- members


def contact_card(member: asyncpg.Record) -> ev.ContactCard:
    return ev.ContactCard(member_id=member["id"], full_name=member["full_name"],
                          email=member["email"], phone=member["phone"],
                          language=member["language"])


async def register_member(conn: asyncpg.Connection, *, kind: str, full_name: str, email: str,
                          phone: str | None, language: str, tax_code: str,
                          residence_istat: str | None, marketing: bool,
                          now: datetime) -> asyncpg.Record:
    member = await store.insert_member(
        conn, member_id=uuid4(), kind=kind, full_name=full_name, email=email, phone=phone,
        language=language, tax_code=tax_code, residence_istat=residence_istat,
        marketing=marketing, now=now)
    await add_event(conn, ev.MemberRegistered(
        member_id=member["id"], kind=kind, language=language, residence_istat=residence_istat,  # type: ignore[arg-type]
        registered_at=now, age_band=_age_band(kind, tax_code, now)), source=SOURCE)
    await add_event(conn, contact_card(member), source=SOURCE)
    return member


def _age_band(kind: str, tax_code: str, now: datetime) -> ev.AgeBand | None:
    """The band for the statistics, from the birth date the codice fiscale encodes: it holds
    two digits of the year, so a year ahead of today's two digits is of the last century. An
    organisation (or a code whose date cannot be read) has none."""
    if kind != "person":
        return None
    try:
        born = codicefiscale.get_birth_date(tax_code.strip().upper())
    except (StdnumError, ValueError, KeyError):  # stdnum: KeyError on some malformed codes
        return None
    today = now.date()
    year = 2000 + born.year % 100
    if year > today.year:
        year -= 100
    try:
        born = born.replace(year=year)
    except ValueError:  # 29 February of a year that is not a leap year in the other century
        born = born.replace(year=year, day=28)
    return ev.age_band(born, today)


async def registration_repeated(conn: asyncpg.Connection, *, tax_code: str, email: str,
                                now: datetime) -> int:
    """An anonymous registration collided with members already registered: write
    `member.registration_repeated` for each member whose tax code or e-mail it used, so they
    learn of it by mail at their own address — at most once per member per
    REGISTRATION_REPEATED_NOTICE_INTERVAL. Returns how many members are told."""
    told = await store.note_registration_repeated(
        conn, tax_code=tax_code, email=email, now=now,
        not_since=now - domain.REGISTRATION_REPEATED_NOTICE_INTERVAL)
    if told:
        await add_events(conn, [ev.MemberRegistrationRepeated(
            member_id=member["id"], at=now,
            matched=[field for field in ("tax_code", "email") if member[f"{field}_matched"]])
            for member in told], source=SOURCE)
    return len(told)


async def update_member(conn: asyncpg.Connection, member_id: UUID, changes: dict[str, Any],
                        now: datetime) -> asyncpg.Record:
    before = await live_member(conn, member_id, for_update=True)
    if "marketing_consent" in changes:
        changes["marketing_consent_at"] = now if changes["marketing_consent"] else None
    after = await store.update_member(conn, member_id, changes, now)
    if (before["language"], before["residence_istat"]) != (after["language"],
                                                            after["residence_istat"]):
        await add_event(conn, ev.MemberUpdated(member_id=member_id, language=after["language"],
                                               residence_istat=after["residence_istat"]),
                        source=SOURCE)
    if contact_card(before) != contact_card(after):
        await add_event(conn, contact_card(after), source=SOURCE)
    return after


async def erase_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """GDPR erasure: personal data goes from this database and, by a tombstone, from the
    compacted contacts topic; live memberships end; accounting facts stay."""
    await live_member(conn, member_id, for_update=True)
    await store.forget_status_reasons(conn, member_id)  # the live ones get the erasure's own
    for membership in await store.memberships_of(conn, member_id):
        if membership["status"] in ("active", "suspended"):
            await _end(conn, membership, "cancel", now, reason="member erased")
    await store.erase_member(conn, member_id, now)
    # The contact cards written so far sit in the outbox (published ones for its retention):
    # their personal data goes now too, not days later with the purge.
    await erase_payloads(conn, topic=topics.MEMBERSHIP_CONTACTS, key=str(member_id))
    await add_event(conn, ev.MemberErased(member_id=member_id, erased_at=now), source=SOURCE)
    await add_tombstone(conn, topic=topics.MEMBERSHIP_CONTACTS, key=str(member_id),
                        event_type=ev.ContactCard.event_type, source=SOURCE)


async def live_member(conn: asyncpg.Connection, member_id: UUID, *, for_update: bool = False
                      ) -> asyncpg.Record:
    member = await store.member_by_id(conn, member_id, for_update=for_update)
    if member is None or member["erased_at"] is not None:
        raise NotFound("member", member_id)
    return member


# ---------------------------------------------------------------- memberships


def _activated(membership: asyncpg.Record, plan: asyncpg.Record) -> ev.MembershipActivated:
    return ev.MembershipActivated(
        membership_id=membership["id"], member_id=membership["member_id"],
        plan_code=plan["code"], plan_kind=plan["kind"], resource_kinds=list(plan["resource_kinds"]),
        period_start=membership["period_start"], period_end=membership["period_end"],
        price_cents=membership["price_cents"],
        max_bookings_per_day=plan["max_bookings_per_day"],
        max_bookings_per_week=plan["max_bookings_per_week"],
        carnet_days=plan["carnet_days"],
        meeting_room_minutes_per_month=plan["meeting_room_minutes_per_month"],
        included_kinds=(list(plan["included_kinds"]) if plan["included_kinds"] is not None
                        else None),
        overage=overage_policy(plan),
    )


def overage_policy(plan: asyncpg.Record) -> dict[str, str]:
    """Per kind the plan may book: `charge` beyond an allowance, or `refuse`."""
    return {kind: "charge" if kind in plan["overage_kinds"] else "refuse"
            for kind in plan["resource_kinds"]}


async def _schedule_period_jobs(conn: asyncpg.Connection, membership: asyncpg.Record) -> None:
    key = str(membership["id"])
    payload = {"period_end": membership["period_end"].isoformat()}
    await scheduler.schedule(conn, EXPIRE_JOB, key, domain.expiry_due(membership["period_end"]),
                             payload)
    notice = domain.expiring_notice_due(membership["period_start"], membership["period_end"])
    if notice is None:
        await scheduler.cancel(conn, EXPIRING_JOB, key)
    else:
        await scheduler.schedule(conn, EXPIRING_JOB, key, notice, payload)


async def start_membership(conn: asyncpg.Connection, *, member_id: UUID, plan_code: str,
                           starts_on: date, now: datetime) -> asyncpg.Record:
    await live_member(conn, member_id, for_update=True)
    plan = await store.plan_by_code(conn, plan_code)
    if plan is None:
        raise domain.RuleViolation("unknown_plan", f"plan {plan_code!r} does not exist",
                                   "plan_code")
    if plan["retired_at"] is not None:
        raise domain.RuleViolation("plan_retired",
                                   f"plan {plan_code!r} is retired: no new memberships",
                                   "plan_code")
    today = now.astimezone(domain.ROME).date()
    if starts_on < today:
        raise domain.RuleViolation("start_in_past", "a membership cannot start in the past",
                                   "starts_on")
    period_start, period_end = domain.period_for(plan["kind"], starts_on)
    membership = await store.insert_membership(
        conn, membership_id=uuid4(), member_id=member_id, plan_code=plan_code,
        stackable=plan["stackable"], period_start=period_start, period_end=period_end,
        price_cents=plan["price_cents"], now=now)
    await add_event(conn, _activated(membership, plan), source=SOURCE)
    await _schedule_period_jobs(conn, membership)
    return membership


async def _membership(conn: asyncpg.Connection, membership_id: UUID) -> asyncpg.Record:
    membership = await store.membership_by_id(conn, membership_id, for_update=True)
    if membership is None:
        raise NotFound("membership", membership_id)
    return membership


async def renew(conn: asyncpg.Connection, membership_id: UUID, now: datetime) -> asyncpg.Record:
    """Extend by one period (domain.renewal_period: at most one period ahead of today, never
    for days already over); the event carries the period it pays for."""
    membership = await _membership(conn, membership_id)
    domain.transition(membership["status"], "renew")
    plan = await store.plan_by_code(conn, membership["plan_code"])
    assert plan is not None  # a foreign key
    if plan["retired_at"] is not None:
        raise domain.RuleViolation("plan_retired", "the plan is retired: choose another plan")
    today = now.astimezone(domain.ROME).date()
    new_start, new_end = domain.renewal_period(plan["kind"], membership["period_end"], today,
                                               covered_from=membership["period_start"])
    # Contiguous: the membership still covers from its first day; after a lapse, from today.
    covered_from = (membership["period_start"]
                    if new_start == membership["period_end"] + timedelta(days=1) else new_start)
    renewed = await store.extend_membership(conn, membership_id, covered_from, new_end, now)
    await add_event(conn, ev.MembershipRenewed(
        membership_id=membership_id, member_id=membership["member_id"],
        period_start=new_start, period_end=new_end, price_cents=plan["price_cents"]),
        source=SOURCE)
    await _schedule_period_jobs(conn, renewed)
    return renewed


async def suspend(conn: asyncpg.Connection, membership_id: UUID, reason: str,
                  now: datetime, *, note: str | None = None) -> asyncpg.Record:
    return await _change_status(conn, membership_id, "suspend", reason, now,
                                ev.MembershipSuspended, note)


async def reinstate(conn: asyncpg.Connection, membership_id: UUID, reason: str,
                    now: datetime, *, note: str | None = None) -> asyncpg.Record:
    return await _change_status(conn, membership_id, "reinstate", reason, now,
                                ev.MembershipReinstated, note)


async def _change_status(conn: asyncpg.Connection, membership_id: UUID, action: domain.Action,
                         reason: str, now: datetime,
                         event: type[ev.MembershipSuspended | ev.MembershipReinstated],
                         note: str | None) -> asyncpg.Record:
    """`reason` is a code and goes on the event; `note` (free text) stays in this database."""
    membership = await _membership(conn, membership_id)
    status = domain.transition(membership["status"], action)
    changed = await store.set_membership_status(conn, membership_id, status, reason, now,
                                                note=note)
    await add_event(conn, event(membership_id=membership_id, member_id=membership["member_id"],
                                reason=reason), source=SOURCE)
    return changed


async def cancel(conn: asyncpg.Connection, membership_id: UUID, now: datetime,
                 reason: str | None = None) -> asyncpg.Record:
    return await _end(conn, await _membership(conn, membership_id), "cancel", now, reason=reason)


async def _end(conn: asyncpg.Connection, membership: asyncpg.Record, action: str,
               now: datetime, reason: str | None = None) -> asyncpg.Record:
    status = domain.transition(membership["status"], action)  # type: ignore[arg-type]
    changed = await store.set_membership_status(conn, membership["id"], status, reason, now)
    key = str(membership["id"])
    await scheduler.cancel(conn, EXPIRING_JOB, key)
    if action == "cancel":
        await scheduler.cancel(conn, EXPIRE_JOB, key)
        await add_event(conn, ev.MembershipCancelled(
            membership_id=membership["id"], member_id=membership["member_id"], at=now),
            source=SOURCE)
    else:
        await add_event(conn, ev.MembershipExpired(
            membership_id=membership["id"], member_id=membership["member_id"], at=now),
            source=SOURCE)
    return changed


# ---------------------------------------------------------------- time-driven (scheduler jobs)


async def expire_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    # NOWAIT: a renewal holding this membership is about to re-arm this very job, whose row the
    # scheduler holds; waiting would deadlock with it. The scheduler defers the job instead
    # (LockNotAvailableError) and, once the renewal committed, finds it no longer due.
    membership = await store.membership_by_id(conn, UUID(job.key), for_update=True, nowait=True)
    if membership is None or membership["status"] not in ("active", "suspended"):
        return  # cancelled or erased meanwhile: nothing left to expire
    if domain.expiry_due(membership["period_end"]) > now:
        return  # renewed: the renewal re-armed this job for the new period's end
    await _end(conn, membership, "expire", now)


async def expiring_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    # Locked like every other change of the membership, so the notice cannot be decided on a
    # state a concurrent cancellation is replacing (NOWAIT: see expire_job).
    membership = await store.membership_by_id(conn, UUID(job.key), for_update=True, nowait=True)
    if membership is None or membership["status"] not in ("active", "suspended"):
        return
    await add_event(conn, ev.MembershipExpiring(
        membership_id=membership["id"], member_id=membership["member_id"],
        period_end=membership["period_end"],
        days_left=max(domain.days_left(membership["period_end"], now), 0)), source=SOURCE)


# ---------------------------------------------------------------- registration limits


async def registration_retry_after(conn: asyncpg.Connection, limits: dict[bytes, int],
                                   now: datetime, window: timedelta) -> int | None:
    """Count an anonymous registration against each counter (digest -> its limit): None when
    every counter is within its limit, else the seconds until the last one over it resets."""
    counted = await store.count_registration_attempts(conn, list(limits), now, window)
    over = [row["window_start"] + window - now for row in counted
            if row["attempts"] > limits[row["digest"]]]
    if not over:
        return None
    return max(1, math.ceil(max(over).total_seconds()))
