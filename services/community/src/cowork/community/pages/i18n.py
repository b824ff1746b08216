"""Every word the public pages show, in Italian (the default) and English, in one place.

A plain catalogue rather than gettext: two languages, a few dozen strings, and a test can read
it. A key missing from a language is a programming error, caught by `text` at render time and
by the catalogue check below at import, never shown to a citizen as a raw key."""

from __future__ import annotations

from collections.abc import Mapping

from cowork.community.pages.texts import FEATURES

LANGUAGES = ("it", "en")
DEFAULT_LANGUAGE = "it"
# The language switch names each language in itself: a reader who does not read the page's
# language still recognises their own.
LANGUAGE_NAMES = {"it": "Italiano", "en": "English"}

CATALOGUE: Mapping[str, Mapping[str, str]] = {
    "site.title": {"it": "Cowork — Comune di Novi Ligure", "en": "Cowork — Comune di Novi Ligure"},
    "site.skip": {"it": "Vai al contenuto", "en": "Skip to content"},
    "site.nav": {"it": "Navigazione principale", "en": "Main navigation"},
    "site.language": {"it": "Lingua", "en": "Language"},
    "site.footer": {
        "it": "Comune di Novi Ligure — spazio di coworking comunale. I dati aperti sono pubblicati "
              "con licenza CC BY 4.0.",
        "en": "Comune di Novi Ligure — the town's coworking space. Open data are published under "
              "the CC BY 4.0 licence.",
    },
    "nav.home": {"it": "Home", "en": "Home"},
    "nav.meetings": {"it": "Incontri", "en": "Meetings"},
    "nav.interest": {"it": "Manifestazione di interesse", "en": "Expression of interest"},
    "nav.open_data": {"it": "Dati aperti", "en": "Open data"},
    "home.title": {"it": "Uno spazio di coworking per Novi Ligure",
                   "en": "A coworking space for Novi Ligure"},
    "home.lead": {
        "it": "Il Comune di Novi Ligure apre uno spazio di lavoro condiviso: scrivanie, sale e "
              "servizi per chi lavora in proprio, per chi cerca lavoro e per chi vuole avviare "
              "un'attività. È una politica attiva del lavoro e il punto d'incontro di una "
              "comunità multiprofessionale.",
        "en": "The town of Novi Ligure is opening a shared workspace: desks, rooms and services "
              "for the self-employed, for people looking for work and for those starting a "
              "business. It is an active labour policy and the meeting place of a "
              "multi-professional community.",
    },
    "home.origin.title": {"it": "Come è nato", "en": "How it began"},
    "home.origin.text": {
        "it": "Il 14 febbraio 2015, dalle 9 alle 12, il Comune ha invitato cittadini, imprenditori, "
              "professionisti, partite IVA e associazioni di categoria a un incontro pubblico "
              "alla Biblioteca Civica (Via Marconi 36) per far emergere chi avrebbe usato uno "
              "spazio di coworking e chi avrebbe potuto aiutare a gestirlo.",
        "en": "On 14 February 2015, from 9 to 12, the town invited citizens, entrepreneurs, "
              "professionals, self-employed workers (partite IVA) and trade associations to a "
              "public meeting at the Biblioteca Civica (Via Marconi 36) to find out who would use "
              "a coworking space and who could help run it.",
    },
    "home.roles.title": {"it": "Chi partecipa", "en": "Who takes part"},
    "home.roles.users": {
        "it": "I fruitori: chi usa lo spazio — cittadini, professionisti, partite IVA, "
              "associazioni e imprese — per lavorare, incontrarsi e formarsi.",
        "en": "The users (fruitori): those who work in the space — citizens, professionals, "
              "the self-employed, associations and companies — to work, meet and learn.",
    },
    "home.roles.providers": {
        "it": "I gestori ed erogatori: chi aiuta a gestire lo spazio e offre servizi, formazione "
              "e accompagnamento alla comunità.",
        "en": "The managers and providers (gestori/erogatori): those who help run the space and "
              "offer services, training and mentoring to the community.",
    },
    "home.take_part.title": {"it": "Partecipa", "en": "Take part"},
    "home.take_part.text": {
        "it": "Iscriviti ai prossimi incontri pubblici, dicci come useresti lo spazio con la "
              "manifestazione di interesse e consulta i dati aperti su come lo spazio viene usato.",
        "en": "Register for the next public meetings, tell us how you would use the space with "
              "an expression of interest, and see the open data on how the space is used.",
    },
    "form.errors_title": {"it": "Controlla i campi evidenziati", "en": "Please check the fields marked"},
    "form.error_prefix": {"it": "Errore:", "en": "Error:"},
    "form.privacy": {"it": "Privacy", "en": "Privacy"},
    "form.required": {"it": "obbligatorio", "en": "required"},
    "error.missing": {"it": "Questo campo è obbligatorio.", "en": "This field is required."},
    "error.too_long": {"it": "Il testo è troppo lungo.", "en": "The text is too long."},
    "error.invalid": {"it": "Il valore non è valido.", "en": "The value is not valid."},
    "error.choose": {"it": "Scegli almeno una voce.", "en": "Choose at least one."},
    "error.privacy": {"it": "Per proseguire devi accettare l'informativa sulla privacy.",
                      "en": "To go on you need to accept the privacy notice."},
    "error.email": {"it": "Scrivi un indirizzo e-mail valido, come nome@esempio.it.",
                    "en": "Enter a valid e-mail address, like name@example.org."},
    "link.invalid.title": {"it": "Link non valido", "en": "Link not valid"},
    "link.invalid.text": {
        "it": "Questo link non è valido o è scaduto. Controlla di aver copiato tutto l'indirizzo "
              "dalla mail.",
        "en": "This link is not valid or has expired. Check that you copied the whole address "
              "from the mail.",
    },
    "confirm.title": {"it": "Iscrizione confermata", "en": "Registration confirmed"},
    "confirm.text": {"it": "Grazie: il tuo indirizzo è confermato e il posto è tuo.",
                     "en": "Thank you: your address is confirmed and the seat is yours."},
    "confirm.waitlisted": {
        "it": "Grazie: il tuo indirizzo è confermato. Sei in lista d'attesa: ti scriveremo se si "
              "libera un posto.",
        "en": "Thank you: your address is confirmed. You are on the waiting list: we will write "
              "to you if a seat becomes free.",
    },
    "cancel.title": {"it": "Annulla l'iscrizione", "en": "Cancel your registration"},
    "cancel.text": {"it": "Vuoi annullare l'iscrizione all'incontro? Il posto andrà a chi è in lista "
                          "d'attesa.",
                    "en": "Do you want to cancel your registration for the meeting? The seat will "
                          "go to the next person on the waiting list."},
    "cancel.button": {"it": "Annulla l'iscrizione", "en": "Cancel my registration"},
    "cancel.done": {"it": "La tua iscrizione è annullata.", "en": "Your registration is cancelled."},
    "erase.title": {"it": "Cancella i tuoi dati", "en": "Erase your data"},
    "erase.text": {
        "it": "Vuoi cancellare i dati personali che il Comune conserva con questo indirizzo "
              "(iscrizioni agli incontri e manifestazioni di interesse)?",
        "en": "Do you want to erase the personal data the town holds under this address "
              "(meeting registrations and expressions of interest)?",
    },
    "erase.button": {"it": "Cancella i miei dati", "en": "Erase my data"},
    "erase.done": {"it": "I tuoi dati personali sono stati cancellati.",
                   "en": "Your personal data have been erased."},
    "not_found.title": {"it": "Pagina non trovata", "en": "Page not found"},
    **FEATURES,
}


def _check(catalogue: Mapping[str, Mapping[str, str]]) -> None:
    missing = [(key, lang) for key, texts in catalogue.items() for lang in LANGUAGES
               if not texts.get(lang)]
    if missing:
        raise RuntimeError(f"page texts missing a translation: {missing}")


_check(CATALOGUE)


def language(requested: str | None) -> str:
    """The page's language: `?lang=` when it names one we have, else Italian."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def text(key: str, lang: str) -> str:
    return CATALOGUE[key][lang]


def options(prefix: str, values: tuple[str, ...], lang: str) -> list[tuple[str, str]]:
    """A choice group's (value, label) pairs: the labels are the keys `prefix.value`."""
    return [(value, text(f"{prefix}.{value}", lang)) for value in values]


def other_language(lang: str) -> str:
    return next(candidate for candidate in LANGUAGES if candidate != lang)
