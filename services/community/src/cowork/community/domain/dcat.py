"""The DCAT-AP_IT record of the open data (the profile dati.gov.it harvests), as JSON-LD: the
catalogue, one dataset per statistic and one CSV distribution per month built."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cowork.community.domain.statistics import ROME

LICENCE = "https://creativecommons.org/licenses/by/4.0/"
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/MONTHLY"
EU_FORMAT_CSV = "http://publications.europa.eu/resource/authority/file-type/CSV"
IANA_CSV = "http://www.iana.org/assignments/media-types/text/csv"
SPDX_SHA256 = "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatapit": "http://dati.gov.it/onto/dcatapit#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

# (title it, title en, description it, description en, EU data theme)
DESCRIPTIONS: dict[str, tuple[str, str, str, str, str]] = {
    "members": ("Nuovi iscritti per comune e fascia d'età", "New members by municipality and age band",
                "Iscritti al coworking nel mese per comune di residenza (ISTAT) e fascia d'età; "
                "celle sotto 5 soppresse.",
                "Members who joined in the month by municipality of residence (ISTAT) and age "
                "band; cells under 5 suppressed.", "SOCI"),
    "members-status": ("Nuovi iscritti per condizione", "New members by status",
                       "Iscritti nel mese per condizione dichiarata (disoccupato, nuova partita "
                       "IVA, ...); celle sotto 5 soppresse.",
                       "Members who joined in the month by declared status (unemployed, new "
                       "partita IVA, ...); cells under 5 suppressed.", "SOCI"),
    "occupancy": ("Occupazione degli spazi", "Space occupancy",
                  "Ore prenotate e ore disponibili per spazio e tipo di postazione.",
                  "Booked and available hours by space and desk kind.", "ECON"),
    "occupancy-hours": ("Occupazione per giorno e ora", "Occupancy by weekday and hour",
                        "Ore prenotate per giorno della settimana e ora.",
                        "Booked hours by weekday and hour of day.", "ECON"),
    "vouchers": ("Voucher coworking: esiti", "Coworking vouchers: outcomes",
                 "Per programma: budget, importi concessi e utilizzati, beneficiari e quanti "
                 "hanno aperto una partita IVA col voucher; conteggi sotto 5 soppressi.",
                 "Per programme: budget, amounts granted and redeemed, beneficiaries and how "
                 "many opened a partita IVA while holding a voucher; counts under 5 suppressed.",
                 "ECON"),
    "meetings": ("Incontri pubblici e partecipazione", "Public meetings and attendance",
                 "Incontri pubblici del mese con iscritti e presenze.",
                 "The month's public meetings with registrations and attendance.", "SOCI"),
}


def _texts(it: str, en: str) -> list[dict[str, str]]:
    return [{"@value": it, "@language": "it"}, {"@value": en, "@language": "en"}]


def _day(moment: datetime) -> dict[str, str]:
    """The day in Rome, as the months are (statistics.month_bounds): a month frozen just after
    midnight on the 1st is dated the 1st, not the UTC day still inside the month it reports."""
    return {"@value": moment.astimezone(ROME).date().isoformat(), "@type": "xsd:date"}


def catalog(releases: Iterable[Mapping[str, Any]], *, base_url: str, ipa_code: str,
            holder_name: str, now: datetime) -> dict[str, Any]:
    """The JSON-LD document; `releases` are the built months (dataset, period, sha256,
    built_at). Every `dct:modified` is the day a month was frozen (a distribution's own, a
    dataset's latest, the catalogue's latest of all), so the document is the same on every
    request until the next build; `now` dates only a catalogue where nothing was built yet."""
    base = base_url.rstrip("/")
    releases = list(releases)
    modified = max((r["built_at"] for r in releases), default=now)
    holder = {"@id": f"https://indicepa.gov.it/ipa-dati/dataset/{ipa_code}",
              "@type": ["dcatapit:Agent", "foaf:Agent"],
              "dct:identifier": ipa_code, "foaf:name": holder_name}
    by_dataset: dict[str, list[Mapping[str, Any]]] = {name: [] for name in DESCRIPTIONS}
    for release in releases:
        by_dataset.setdefault(release["dataset"], []).append(release)
    datasets = []
    for name, built in by_dataset.items():
        title_it, title_en, text_it, text_en, theme = DESCRIPTIONS.get(
            name, (name, name, name, name, "SOCI"))
        last = max((r["built_at"] for r in built), default=modified)
        datasets.append({
            "@id": f"{base}/v1/open-data/{name}",
            "@type": ["dcatapit:Dataset", "dcat:Dataset"],
            "dct:identifier": f"{ipa_code}:cowork-{name}",
            "dct:title": _texts(title_it, title_en),
            "dct:description": _texts(text_it, text_en),
            "dct:modified": _day(last),
            "dcat:theme": {"@id": EU_THEME + theme},
            "dct:rightsHolder": holder,
            "dct:publisher": holder,
            "dct:accrualPeriodicity": {"@id": EU_FREQUENCY},
            "dcat:distribution": [{
                "@id": f"{base}/v1/open-data/{name}/{r['period']}.csv",
                "@type": ["dcatapit:Distribution", "dcat:Distribution"],
                "dct:title": _texts(f"{title_it} {r['period']}", f"{title_en} {r['period']}"),
                "dct:format": {"@id": EU_FORMAT_CSV},
                "dct:modified": _day(r["built_at"]),
                "dcat:mediaType": {"@id": IANA_CSV},
                "dcat:accessURL": {"@id": f"{base}/v1/open-data/{name}/{r['period']}.csv"},
                "dct:license": {"@id": LICENCE, "@type": "dcatapit:LicenseDocument"},
                "spdx:checksum": {"spdx:algorithm": {"@id": SPDX_SHA256},
                                  "spdx:checksumValue": r["sha256"]},
            } for r in sorted(built, key=lambda r: r["period"])],
        })
    return {
        "@context": {**CONTEXT, "spdx": "http://spdx.org/rdf/terms#"},
        "@id": f"{base}/v1/open-data/catalog.jsonld",
        "@type": ["dcatapit:Catalog", "dcat:Catalog"],
        "dct:title": _texts("Coworking di Novi Ligure: dati aperti",
                            "Novi Ligure coworking: open data"),
        "dct:description": _texts("Statistiche mensili del coworking comunale.",
                                  "Monthly statistics of the municipal coworking space."),
        "dct:modified": _day(modified),
        "dct:publisher": holder,
        "dcat:dataset": datasets,
    }
