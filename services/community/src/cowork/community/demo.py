"""Demo data for `make run`: the meeting the council of Novi Ligure held on 14 February 2015
(9:00-12:00, Biblioteca Civica, Via Marconi 36), closed with its minutes, and a next meeting
about three weeks from today, open to everyone. Loading it again changes nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from uuid import NAMESPACE_URL, uuid5
from zoneinfo import ZoneInfo

from cowork.community.commands.meetings import close_meeting, publish_meeting
from cowork.community.store import meetings as store
from cowork.shared.demo_ids import DEMO_SPACE_ID
from cowork.shared.logging import get_logger
from cowork.shared.service import ServiceRuntime

log = get_logger(__name__)

ROME = ZoneInfo("Europe/Rome")
FIRST_MEETING_ID = uuid5(NAMESPACE_URL, "https://cowork.example/demo/meetings/2015-02-14")
NEXT_MEETING_ID = uuid5(NAMESPACE_URL, "https://cowork.example/demo/meetings/next")
PLACE = "Biblioteca Civica, Via Marconi 36, 15067 Novi Ligure (AL)"

FIRST_MEETING = {
    "title_it": "Coworking a Novi Ligure: chi lo userebbe, chi lo gestirebbe",
    "title_en": "Coworking in Novi Ligure: who would use it, who would run it",
    "description_it": "Incontro pubblico promosso dal Comune con cittadini, imprenditori, "
                      "professionisti, partite IVA e associazioni di categoria per far emergere "
                      "i fruitori e i possibili gestori di uno spazio di coworking, come "
                      "politica attiva del lavoro.",
    "description_en": "A public meeting called by the council with citizens, entrepreneurs, "
                      "professionals, partite IVA and trade associations.",
    "space_id": DEMO_SPACE_ID, "address": PLACE,
    "starts_at": datetime(2015, 2, 14, 9, 0, tzinfo=ROME),
    "ends_at": datetime(2015, 2, 14, 12, 0, tzinfo=ROME),
    "capacity": 80, "registration_opens": None, "registration_closes": None,
    "open_to": "everyone",
}
MINUTES = (
    "Sabato 14 febbraio 2015, Biblioteca Civica di Novi Ligure. Hanno partecipato cittadini, "
    "liberi professionisti, giovani partite IVA, rappresentanti delle associazioni di "
    "categoria e alcune imprese del territorio. Dopo la presentazione del progetto da parte "
    "del Comune, i presenti hanno indicato come userebbero uno spazio di coworking (postazioni "
    "flessibili, sala riunioni, orari serali) e in diversi si sono detti disponibili a "
    "collaborare alla gestione. Si è concordato di raccogliere le manifestazioni di interesse "
    "prima dell'apertura.")
ATTENDANCE = 42


def next_meeting(now: datetime) -> dict[str, object]:
    day = (now.astimezone(ROME) + timedelta(weeks=3)).date()
    return {
        "title_it": "Coworking a Novi Ligure: il punto sullo spazio",
        "title_en": "Coworking in Novi Ligure: where the space stands",
        "description_it": "Aggiornamento sullo spazio, sulle manifestazioni di interesse "
                          "raccolte e sui voucher. Aperto a tutti.",
        "description_en": "An update on the space, the expressions of interest and the "
                          "vouchers. Open to everyone.",
        "space_id": DEMO_SPACE_ID, "address": PLACE,
        "starts_at": datetime.combine(day, time(17, 30), tzinfo=ROME),
        "ends_at": datetime.combine(day, time(19, 30), tzinfo=ROME),
        "capacity": 40, "registration_opens": None, "registration_closes": None,
        "open_to": "everyone",
    }


async def load(runtime: ServiceRuntime) -> None:
    now = runtime.clock()
    async with runtime.db.acquire() as conn, conn.transaction():
        # Two replicas starting together load it once.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('community.demo.meetings'))")
        if await store.meeting_by_id(conn, FIRST_MEETING_ID) is None:
            await publish_meeting(conn, FIRST_MEETING, now, meeting_id=FIRST_MEETING_ID)
            await close_meeting(conn, FIRST_MEETING_ID, MINUTES, ATTENDANCE, now)
        if await store.meeting_by_id(conn, NEXT_MEETING_ID) is None:
            await publish_meeting(conn, next_meeting(now), now, meeting_id=NEXT_MEETING_ID)
    log.info("demo meetings loaded", meetings=[str(FIRST_MEETING_ID), str(NEXT_MEETING_ID)])
