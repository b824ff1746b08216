"""The monthly open data from the consumed events: frozen CSVs at stable public URLs, small
counts suppressed, the DCAT-AP_IT catalogue as RDF naming what portals harvest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
import rdflib
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD
from stats_support import Stats, stats, token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]
__all__ = ["stats"]

MARCH = datetime(2027, 3, 10, 9, tzinfo=UTC)
NOVI, GAVI = "006114", "006079"


async def _members(stats: Stats) -> None:
    """Twelve in Novi aged 25-34, six aged 35-44, one in Gavi aged 65+ (who must not be
    singled out), seven in Gavi aged 25-34."""
    people = [(NOVI, "25-34")] * 12 + [(NOVI, "35-44")] * 6 + [(GAVI, "65+")] + \
        [(GAVI, "25-34")] * 7
    for istat, band in people:
        await stats.deliver(ev.MemberRegistered(
            member_id=uuid4(), kind="person", language="it", residence_istat=istat,
            registered_at=MARCH, age_band=band))  # type: ignore[arg-type]


async def test_the_month_is_frozen_published_and_hides_the_only_one_of_their_age(
        stats: Stats) -> None:
    await _members(stats)
    space, resource = uuid4(), uuid4()
    await stats.deliver(ev.ResourcePublished(resource_id=resource, space_id=space, name="Desk",
                                             kind="hot_desk", seats=4, price_per_hour_cents=300))
    start = datetime(2027, 3, 9, 8, tzinfo=UTC)  # a Tuesday, 9:00 in Rome
    await stats.deliver(ev.BookingConfirmed(
        booking_id=uuid4(), member_id=uuid4(), space_id=space, resource_id=resource,
        resource_kind="hot_desk", start=start, end=start + timedelta(hours=3), price_cents=900))
    response = await stats.build("2027-03")
    assert response.status_code == 201, response.text
    items = {i["dataset"]: i for i in response.json()["items"]}
    assert items["members"]["url"] == \
        "https://cowork.example.org/v1/open-data/members/2027-03.csv"

    members = await stats.client.get("/v1/open-data/members/2027-03.csv")  # public
    assert members.status_code == 200
    assert hashlib.sha256(members.content).hexdigest() == items["members"]["sha256"]
    rows = list(csv.DictReader(io.StringIO(members.text)))
    cell = {(r["residence_istat"], r["age_band"]): r for r in rows}
    assert cell[(GAVI, "65+")]["members"] == "" and cell[(GAVI, "65+")]["flag"] == "c"
    assert cell[("total", "total")]["members"] == "26"
    truth = {(NOVI, "25-34"): 12, (NOVI, "35-44"): 6, (GAVI, "25-34"): 7, (NOVI, "65+"): 0,
             (GAVI, "35-44"): 0}
    for key, value in truth.items():  # what is published is true; the rest is hidden
        assert cell[key]["members"] in ("", str(value))
    assert all(r["members"] == "" or int(r["members"]) == 0 or int(r["members"]) >= 5
               for r in rows)
    assert f"{GAVI},65+,1" not in members.text

    occupancy = list(csv.DictReader(io.StringIO(
        (await stats.client.get("/v1/open-data/occupancy/2027-03.csv")).text)))
    # 23 weekdays in March 2027 x 10 hours x 4 seats
    assert (occupancy[0]["booked_hours"], occupancy[0]["available_hours"]) == ("3.0", "920")

    # A second build keeps the frozen bytes and announces nothing again.
    await stats.deliver(ev.MemberRegistered(
        member_id=uuid4(), kind="person", language="it", residence_istat=NOVI,
        registered_at=MARCH, age_band="25-34"))
    assert (await stats.build("2027-03")).status_code == 201
    again = await stats.client.get("/v1/open-data/members/2027-03.csv")
    assert again.content == members.content
    published = await stats.runtime.db.fetch(
        "SELECT payload FROM outbox WHERE type = $1", ev.OpenDataPublished.event_type)
    assert sorted(p["payload"]["dataset"] for p in published) == sorted(items)

    listing = (await stats.client.get("/v1/open-data")).json()
    assert {i["dataset"] for i in listing["items"]} == set(items)


async def test_unbuilt_months_bad_periods_and_who_may_build(stats: Stats) -> None:
    assert (await stats.client.get("/v1/open-data/members/2026-01.csv")).status_code == 404
    bad = await stats.client.get("/v1/open-data/members/2026-13.csv")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "period"
    assert (await stats.client.post("/v1/open-data/build?period=2027-03")).status_code == 401
    assert (await stats.client.post("/v1/open-data/build?period=2027-03",
                                    headers=token("member", sub=str(uuid4())))).status_code == 403
    assert (await stats.client.post("/v1/open-data/build?period=2027-3",
                                    headers=token("operator"))).status_code == 422


async def test_the_catalogue_is_dcat_ap_it_rdf(stats: Stats) -> None:
    await _members(stats)
    assert (await stats.build("2027-03")).status_code == 201
    response = await stats.client.get("/v1/open-data/catalog.jsonld")
    assert response.status_code == 200
    graph = rdflib.Graph().parse(data=response.text, format="json-ld")
    dcatapit = rdflib.Namespace("http://dati.gov.it/onto/dcatapit#")
    [catalog] = graph.subjects(RDF.type, dcatapit.Catalog)
    datasets = list(graph.objects(catalog, DCAT.dataset))
    assert len(datasets) >= 5
    members = rdflib.URIRef("https://cowork.example.org/v1/open-data/members")
    assert (members, RDF.type, dcatapit.Dataset) in graph
    for prop in (DCTERMS.identifier, DCTERMS.title, DCTERMS.description, DCTERMS.modified,
                 DCAT.theme, DCTERMS.rightsHolder, DCTERMS.accrualPeriodicity,
                 DCAT.distribution):
        assert graph.value(members, prop) is not None, prop
    titles = {t.language: str(t) for t in graph.objects(members, DCTERMS.title)}
    assert set(titles) == {"it", "en"}
    holder = graph.value(members, DCTERMS.rightsHolder)
    assert str(graph.value(holder, DCTERMS.identifier)) == "c_f965"
    assert str(graph.value(members, DCTERMS.accrualPeriodicity)).endswith("/frequency/MONTHLY")
    distribution = graph.value(members, DCAT.distribution)
    assert (distribution, RDF.type, dcatapit.Distribution) in graph
    assert str(graph.value(distribution, DCAT.accessURL)) == \
        "https://cowork.example.org/v1/open-data/members/2027-03.csv"
    assert str(graph.value(distribution, DCTERMS.license)) == \
        "https://creativecommons.org/licenses/by/4.0/"
    assert str(graph.value(distribution, DCTERMS.format)).endswith("/file-type/CSV")
    assert json.loads(response.text)["@type"][0] == "dcatapit:Catalog"
    assert date.fromisoformat(str(graph.value(members, DCTERMS.modified)))


SPDX = rdflib.Namespace("http://spdx.org/rdf/terms#")


async def test_the_catalogue_names_its_terms_by_iri_and_is_dated_by_the_build(
        stats: Stats) -> None:
    """DCAT-AP_IT wants the checksum algorithm and the media type as IRIs (a plain string is
    not the SPDX term nor the IANA type), and `dct:modified` as the day the data changed: a
    catalogue re-dated at every request tells harvesters every dataset changed daily."""
    await _members(stats)
    assert (await stats.build("2027-03")).status_code == 201
    built_on = stats.clock().date()
    first = await stats.client.get("/v1/open-data/catalog.jsonld")
    stats.clock.advance(days=3)
    second = await stats.client.get("/v1/open-data/catalog.jsonld")
    assert second.text == first.text

    graph = rdflib.Graph().parse(data=second.text, format="json-ld")
    members = rdflib.URIRef("https://cowork.example.org/v1/open-data/members")
    distribution = graph.value(members, DCAT.distribution)
    checksum = graph.value(distribution, SPDX.checksum)
    assert graph.value(checksum, SPDX.algorithm) == \
        rdflib.URIRef("http://spdx.org/rdf/terms#checksumAlgorithm_sha256")
    assert graph.value(distribution, DCAT.mediaType) == \
        rdflib.URIRef("http://www.iana.org/assignments/media-types/text/csv")
    day = rdflib.Literal(built_on.isoformat(), datatype=XSD.date)
    for node in (members, distribution):
        assert graph.value(node, DCTERMS.modified) == day, node
    [catalog] = graph.subjects(DCAT.dataset, members)
    assert graph.value(catalog, DCTERMS.modified) == day


async def test_a_month_built_just_after_it_ended_is_not_dated_inside_it(stats: Stats) -> None:
    """Months are Rome's (statistics.month_bounds): April built at 00:30 on 1 May in Rome
    (22:30 UTC on 30 April) was frozen on 1 May. Dated by the UTC day, its `dct:modified`
    said 30 April — a day inside the month it reports on, before the month had ended."""
    await _members(stats)
    may_first_rome = datetime(2027, 4, 30, 22, 30, tzinfo=UTC)
    stats.clock.advance(seconds=(may_first_rome - stats.clock()).total_seconds())
    assert (await stats.build("2027-04")).status_code == 201
    graph = rdflib.Graph().parse(
        data=(await stats.client.get("/v1/open-data/catalog.jsonld")).text, format="json-ld")
    members = rdflib.URIRef("https://cowork.example.org/v1/open-data/members")
    distribution = graph.value(members, DCAT.distribution)
    day = rdflib.Literal("2027-05-01", datatype=XSD.date)
    for node in (members, distribution):
        assert graph.value(node, DCTERMS.modified) == day, node
    [catalog] = graph.subjects(DCAT.dataset, members)
    assert graph.value(catalog, DCTERMS.modified) == day


async def test_a_new_month_built_moves_the_dates_of_its_dataset_and_the_catalogue(
        stats: Stats) -> None:
    """A harvester learns of a new month by `dct:modified`: the dataset and catalogue take
    the new build's day; the older month's distribution keeps its own."""
    await _members(stats)
    assert (await stats.build("2027-03")).status_code == 201
    march_built = stats.clock().date()
    stats.clock.advance(days=31)
    assert (await stats.build("2027-04")).status_code == 201
    april_built = stats.clock().date()
    graph = rdflib.Graph().parse(
        data=(await stats.client.get("/v1/open-data/catalog.jsonld")).text, format="json-ld")
    members = rdflib.URIRef("https://cowork.example.org/v1/open-data/members")
    [catalog] = graph.subjects(DCAT.dataset, members)
    new_day = rdflib.Literal(april_built.isoformat(), datatype=XSD.date)
    assert graph.value(members, DCTERMS.modified) == new_day
    assert graph.value(catalog, DCTERMS.modified) == new_day
    days = {str(graph.value(d, DCTERMS.modified))
            for d in graph.objects(members, DCAT.distribution)}
    assert days == {march_built.isoformat(), april_built.isoformat()}
