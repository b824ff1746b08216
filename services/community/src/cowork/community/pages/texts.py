"""The feature pages' texts (meetings, registration, erasure request, expression of interest,
open data) in Italian and English; `i18n.CATALOGUE` joins them to the layout's, and its check
at import covers them too."""

from __future__ import annotations

from collections.abc import Mapping

MEETINGS: Mapping[str, Mapping[str, str]] = {
    "meetings.title": {"it": "Incontri pubblici", "en": "Public meetings"},
    "meetings.lead": {
        "it": "Gli incontri aperti alla cittadinanza sullo spazio di coworking. L'iscrizione è "
              "gratuita e non serve un account: ti scriviamo per confermare l'indirizzo.",
        "en": "The meetings open to everyone about the coworking space. Registration is free "
              "and needs no account: we write to you to confirm your address.",
    },
    "meetings.upcoming": {"it": "Prossimi incontri", "en": "Upcoming meetings"},
    "meetings.none_upcoming": {"it": "Al momento non ci sono incontri in programma.",
                               "en": "There are no meetings planned at the moment."},
    "meetings.past": {"it": "Incontri passati", "en": "Past meetings"},
    "meetings.none_past": {"it": "Non ci sono ancora verbali di incontri passati.",
                           "en": "There are no minutes of past meetings yet."},
    "meetings.calendar": {"it": "Tutti gli incontri nel tuo calendario (iCalendar)",
                          "en": "All meetings in your calendar (iCalendar)"},
    "meeting.when": {"it": "Quando", "en": "When"},
    "meeting.where": {"it": "Dove", "en": "Where"},
    "meeting.seats": {"it": "Posti liberi", "en": "Seats left"},
    "meeting.full": {"it": "nessuno: iscrivendoti entri in lista d'attesa",
                     "en": "none: registering puts you on the waiting list"},
    "meeting.cancelled": {"it": "Incontro annullato", "en": "Meeting cancelled"},
    "meeting.members_only": {"it": "Riservato agli iscritti al coworking.",
                             "en": "Open to coworking members only."},
    "meeting.ics": {"it": "Aggiungi al calendario (iCalendar)", "en": "Add to calendar (iCalendar)"},
    "meeting.details": {"it": "Dettagli e iscrizione", "en": "Details and registration"},
    "meeting.minutes": {"it": "Verbale", "en": "Minutes"},
    "meeting.minutes_language": {"it": "Il verbale è pubblicato in italiano.",
                                 "en": "The minutes are published in Italian."},
    "meeting.attendance": {"it": "Partecipanti", "en": "Attendance"},
    "meeting.not_found": {"it": "Questo incontro non esiste o non è più pubblicato.",
                          "en": "This meeting does not exist or is no longer published."},
    "meeting.at_space": {"it": "Nello spazio di coworking", "en": "At the coworking space"},
    "meeting.back": {"it": "Tutti gli incontri", "en": "All meetings"},
    "register.title": {"it": "Iscriviti", "en": "Register"},
    "register.closed": {"it": "Le iscrizioni a questo incontro non sono aperte.",
                        "en": "Registration for this meeting is not open."},
    "register.full_name": {"it": "Nome e cognome", "en": "Full name"},
    "register.email": {"it": "Indirizzo e-mail", "en": "E-mail address"},
    "register.email_hint": {
        "it": "Ti mandiamo il link per confermare l'iscrizione e, se serve, per annullarla.",
        "en": "We send you the link to confirm your registration and, if needed, to cancel it."},
    "register.privacy": {
        "it": "Ho letto l'informativa sulla privacy e acconsento al trattamento dei miei dati "
              "per l'iscrizione all'incontro",
        "en": "I have read the privacy notice and agree to my data being used for the "
              "registration"},
    "register.profile": {"it": "Chi sei (facoltativo, per le statistiche del Comune)",
                         "en": "Who you are (optional, for the town's statistics)"},
    "register.residence": {"it": "Codice ISTAT del comune di residenza (facoltativo)",
                           "en": "ISTAT code of your municipality of residence (optional)"},
    "register.residence_hint": {"it": "Sei cifre; Novi Ligure è 006114.",
                                "en": "Six digits; Novi Ligure is 006114."},
    "register.no_answer": {"it": "Preferisco non dirlo", "en": "I prefer not to say"},
    "register.button": {"it": "Iscriviti all'incontro", "en": "Register for the meeting"},
    "refused.meeting_not_open": {"it": "Questo incontro non accetta iscrizioni (annullato o "
                                       "concluso).",
                                 "en": "This meeting takes no registrations (cancelled or "
                                       "over)."},
    "refused.registration_not_open_yet": {"it": "Le iscrizioni a questo incontro non sono "
                                                "ancora aperte.",
                                          "en": "Registration for this meeting has not opened "
                                                "yet."},
    "refused.registration_closed": {"it": "Le iscrizioni a questo incontro sono chiuse.",
                                    "en": "Registration for this meeting has closed."},
    "refused.too_many_registrations": {
        "it": "Troppe iscrizioni da questa connessione: riprova più tardi.",
        "en": "Too many registrations from this connection: please try again later."},
    "refused.members_only": {"it": "Questo incontro è riservato agli iscritti al coworking.",
                             "en": "This meeting is open to coworking members only."},
    "registered.title": {"it": "Controlla la tua posta", "en": "Check your mail"},
    "registered.text": {
        "it": "Ti abbiamo scritto: apri il link nella mail per confermare l'iscrizione. Il posto "
              "è tenuto per te per qualche tempo, poi passa a chi è in lista d'attesa.",
        "en": "We have written to you: open the link in the mail to confirm your registration. "
              "The seat is held for you for a while, then it goes to the waiting list."},
    "waitlisted.title": {"it": "Sei in lista d'attesa", "en": "You are on the waiting list"},
    "waitlisted.text": {
        "it": "L'incontro è al completo: sei in lista d'attesa, in posizione {position}. Ti "
              "abbiamo scritto: conferma l'indirizzo con il link nella mail, così un posto che "
              "si libera è subito tuo.",
        "en": "The meeting is full: you are on the waiting list, in position {position}. We have "
              "written to you: confirm your address with the link in the mail, so that a seat "
              "freed by someone is yours at once."},
    "erasure.title": {"it": "Cancella i tuoi dati", "en": "Erase your data"},
    "erasure.lead": {
        "it": "Scrivi l'indirizzo e-mail con cui ti sei iscritto a un incontro o hai inviato una "
              "manifestazione di interesse: se conserviamo dati con quell'indirizzo, ti "
              "mandiamo un link per confermare la cancellazione.",
        "en": "Enter the e-mail address you used to register for a meeting or to send an "
              "expression of interest: if we hold data under it, we send you a link to confirm "
              "the erasure."},
    "erasure.button": {"it": "Chiedi la cancellazione", "en": "Ask for erasure"},
    "erasure.done_title": {"it": "Richiesta ricevuta", "en": "Request received"},
    "erasure.done": {
        "it": "Se conserviamo dati con questo indirizzo, ti arriverà una mail con un link per "
              "confermare la cancellazione; il link vale 24 ore.",
        "en": "If we hold data under this address, a mail with a link to confirm the erasure is "
              "on its way; the link works for 24 hours."},
    "erasure.link": {"it": "Vuoi cancellare i tuoi dati personali?",
                     "en": "Do you want your personal data erased?"},
}

INTEREST: Mapping[str, Mapping[str, str]] = {
    "interest.title": {"it": "Manifestazione di interesse", "en": "Expression of interest"},
    "interest.lead": {
        "it": "Dicci come useresti lo spazio di coworking: le risposte aiutano il Comune a "
              "decidere quante postazioni servono e in quali orari.",
        "en": "Tell us how you would use the coworking space: the answers help the town decide "
              "how many desks are needed, and when."},
    "interest.who": {"it": "Chi sei", "en": "Who you are"},
    "interest.desk_kinds": {"it": "Che cosa useresti", "en": "What you would use"},
    "interest.weekdays": {"it": "In quali giorni", "en": "On which days"},
    "interest.time_bands": {"it": "In quali fasce orarie", "en": "At what times of day"},
    "interest.frequency": {"it": "Quanto spesso", "en": "How often"},
    "interest.would_help_run": {"it": "Vorresti aiutare a gestire lo spazio?",
                                "en": "Would you help run the space?"},
    "interest.email": {"it": "Indirizzo e-mail (facoltativo)", "en": "E-mail address (optional)"},
    "interest.email_hint": {
        "it": "Solo per avvisarti dell'apertura o per cancellare in seguito la tua risposta; "
              "non esce dal servizio.",
        "en": "Only to tell you when the space opens, or to erase your answer later; it never "
              "leaves the service."},
    "interest.privacy": {
        "it": "Ho letto l'informativa sulla privacy e acconsento al trattamento delle mie "
              "risposte",
        "en": "I have read the privacy notice and agree to my answers being used"},
    "interest.button": {"it": "Invia la manifestazione di interesse",
                        "en": "Send the expression of interest"},
    "interest.done_title": {"it": "Grazie", "en": "Thank you"},
    "interest.done": {"it": "La tua manifestazione di interesse è stata registrata.",
                      "en": "Your expression of interest has been recorded."},
    "yes": {"it": "Sì", "en": "Yes"},
    "no": {"it": "No", "en": "No"},
    "who.citizen": {"it": "Cittadino o cittadina", "en": "Citizen"},
    "who.professional": {"it": "Libero professionista", "en": "Professional"},
    "who.partita_iva": {"it": "Lavoratore autonomo (partita IVA)",
                        "en": "Self-employed (partita IVA)"},
    "who.association": {"it": "Associazione", "en": "Association"},
    "who.company": {"it": "Impresa", "en": "Company"},
    "desk.hot_desk": {"it": "Postazione libera", "en": "Hot desk"},
    "desk.fixed_desk": {"it": "Postazione fissa", "en": "Fixed desk"},
    "desk.meeting_room": {"it": "Sala riunioni", "en": "Meeting room"},
    "desk.phone_booth": {"it": "Cabina telefonica", "en": "Phone booth"},
    "desk.event_room": {"it": "Sala eventi", "en": "Event room"},
    "day.mon": {"it": "Lunedì", "en": "Monday"},
    "day.tue": {"it": "Martedì", "en": "Tuesday"},
    "day.wed": {"it": "Mercoledì", "en": "Wednesday"},
    "day.thu": {"it": "Giovedì", "en": "Thursday"},
    "day.fri": {"it": "Venerdì", "en": "Friday"},
    "day.sat": {"it": "Sabato", "en": "Saturday"},
    "day.sun": {"it": "Domenica", "en": "Sunday"},
    "band.morning": {"it": "Mattina", "en": "Morning"},
    "band.afternoon": {"it": "Pomeriggio", "en": "Afternoon"},
    "band.evening": {"it": "Sera", "en": "Evening"},
    "frequency.daily": {"it": "Ogni giorno", "en": "Every day"},
    "frequency.weekly": {"it": "Ogni settimana", "en": "Every week"},
    "frequency.monthly": {"it": "Ogni mese", "en": "Every month"},
    "frequency.occasional": {"it": "Ogni tanto", "en": "Now and then"},
}

OPEN_DATA: Mapping[str, Mapping[str, str]] = {
    "open_data.title": {"it": "Dati aperti", "en": "Open data"},
    "open_data.lead": {
        "it": "Ogni mese il Comune pubblica come lo spazio viene usato, in file CSV. I conteggi "
              "di meno di {k} persone non sono pubblicati, per proteggere chi usa lo spazio.",
        "en": "Every month the town publishes how the space is used, as CSV files. Counts of "
              "fewer than {k} people are not published, to protect the people who use the "
              "space."},
    "open_data.licence": {"it": "Licenza", "en": "Licence"},
    "open_data.licence_text": {
        "it": "I dati sono pubblicati con licenza Creative Commons Attribuzione 4.0 (CC BY 4.0): "
              "puoi riusarli citando il Comune di Novi Ligure.",
        "en": "The data are published under the Creative Commons Attribution 4.0 licence "
              "(CC BY 4.0): you may reuse them, crediting the Comune di Novi Ligure."},
    "open_data.licence_link": {"it": "Testo della licenza CC BY 4.0",
                               "en": "The CC BY 4.0 licence"},
    "open_data.catalog": {"it": "Catalogo DCAT-AP_IT (JSON-LD)",
                          "en": "DCAT-AP_IT catalogue (JSON-LD)"},
    "open_data.datasets": {"it": "Dataset", "en": "Datasets"},
    "open_data.none": {"it": "Non è ancora stato pubblicato nessun dataset.",
                       "en": "No dataset has been published yet."},
    "open_data.month": {"it": "Mese", "en": "Month"},
    "open_data.download": {"it": "Scarica", "en": "Download"},
    "open_data.csv_of": {"it": "CSV {dataset}, {period}", "en": "CSV {dataset}, {period}"},
    "open_data.charts": {"it": "Grafici dell'ultimo mese", "en": "Charts of the latest month"},
    "dataset.members": {"it": "Nuovi iscritti per comune di residenza e fascia d'età",
                        "en": "New members by municipality of residence and age band"},
    "dataset.members-status": {"it": "Iscritti per stato dell'iscrizione",
                               "en": "Members by membership status"},
    "dataset.occupancy": {"it": "Occupazione delle postazioni e delle sale",
                          "en": "Occupancy of desks and rooms"},
    "dataset.occupancy-hours": {"it": "Ore prenotate per giorno della settimana e ora",
                                "en": "Booked hours by weekday and hour"},
    "dataset.vouchers": {"it": "Voucher per programma", "en": "Vouchers by programme"},
    "dataset.meetings": {"it": "Incontri pubblici e partecipazione",
                         "en": "Public meetings and attendance"},
    "chart.members-by-age-band": {"it": "Nuovi iscritti per fascia d'età, {period}",
                                  "en": "New members by age band, {period}"},
    "chart.occupancy-heatmap": {"it": "Ore prenotate per giorno e ora, {period}",
                                "en": "Booked hours by weekday and hour, {period}"},
    "chart.no_data": {"it": "Nessun dato per questo mese.", "en": "No data for this month."},
    "chart.hidden": {"it": "non pubblicato (meno di {k} persone)",
                     "en": "not published (fewer than {k} people)"},
    "chart.bands": {"it": "Per fascia d'età: {values}.", "en": "By age band: {values}."},
    "chart.hours": {
        "it": "In tutto {total} ore prenotate; la fascia più richiesta è {day} dalle {hour}:00 "
              "alle {next}:00, con {peak} ore.",
        "en": "{total} booked hours in all; the busiest slot is {day} from {hour}:00 to "
              "{next}:00, with {peak} hours."},
}

FEATURES: Mapping[str, Mapping[str, str]] = {**MEETINGS, **INTEREST, **OPEN_DATA}
