"""Jinja2 environment of the staff and portal screens: French filters and labels."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from projections.formatting import format_money
from projections.timeline import STAGE_LABELS, TICKET_STATUS_LABELS

TEMPLATES = Path(__file__).with_name("templates")
PARIS = ZoneInfo("Europe/Paris")
_MONTHS = [
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
]

LABELS: dict[str, dict[str, str]] = {
    "etape": STAGE_LABELS,
    "statut_ticket": TICKET_STATUS_LABELS,
    "type_ticket": {"question": "Question", "bug": "Bug", "demande": "Demande"},
    "priorite": {"basse": "Basse", "normale": "Normale", "haute": "Haute", "urgente": "Urgente"},
    "source": {"staff": "Équipe", "portail": "Portail", "email": "Email"},
    "type_client": {"entreprise": "Entreprise", "particulier": "Particulier"},
    "activite": {"note": "Note", "appel": "Appel", "reunion": "Réunion"},
    "etat_envoi": {
        "en_attente": "En attente",
        "envoye": "Envoyé",
        "nouvel_essai": "Nouvel essai",
        "echec": "Échec",
    },
    "sens": {"entrant": "Reçu", "sortant": "Envoyé"},
    "critere": {"destinataire": "Destinataire", "sujet": "Sujet"},
    "securite": {"starttls": "STARTTLS", "tls": "TLS", "aucune": "Aucune (déconseillé)"},
}


def money(amount: Decimal | None, currency: str = "EUR") -> str:
    return format_money(amount, currency)


def date_fr(value: date | datetime | None, with_time: bool = False) -> str:
    """'21 nov. 2026' (and ' à 14:05' in Paris time when asked)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = value.astimezone(PARIS)
        text = f"{local.day} {_MONTHS[local.month - 1]} {local.year}"
        return f"{text} à {local:%H:%M}" if with_time else text
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def octets(size: int | None) -> str:
    """A size in French: '812 o', '12,4 Ko', '2,1 Mo' (1 Ko = 1,000 bytes, as on disks)."""
    if size is None:
        return "—"
    if size < 1000:
        return f"{size} o"
    for unit, scale in (("Ko", 1e3), ("Mo", 1e6), ("Go", 1e9)):
        if size < scale * 1000 or unit == "Go":
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    return f"{size} o"  # pragma: no cover  (the loop always returns)


def label(value: str | None, kind: str) -> str:
    if value is None:
        return "—"
    return LABELS.get(kind, {}).get(value, value)


def template_config(*, reload: bool = False) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        # Compiled templates stay cached; with auto_reload, every render (and every
        # include) would stat its file to see whether it changed.
        env.auto_reload = reload
        env.filters.update(money=money, date_fr=date_fr, label=label, octets=octets)
        env.globals.update(LABELS=LABELS)
        env.trim_blocks = True
        env.lstrip_blocks = True

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )


def template_context(**values: Any) -> dict[str, Any]:
    return values
