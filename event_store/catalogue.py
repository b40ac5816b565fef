"""Generates event_store/EVENTS.md, the catalogue of every event type, from the code.

python -m event_store.catalogue          # rewrite EVENTS.md
python -m event_store.catalogue --check  # exit 1 when EVENTS.md is stale
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
import typing
from pathlib import Path

import crm_core
from crm_core.aggregate import CrmAggregate
from crm_core.personal import personal_data_of

CATALOGUE = Path(__file__).with_name("EVENTS.md")
_COMMON = (
    "originator_id",
    "originator_version",
    "timestamp",
    "workspace_id",
    "actor",
    "correlation_id",
)
_HIDDEN = {"originator_topic"}


def _aggregates() -> list[type[CrmAggregate]]:
    found: dict[str, type[CrmAggregate]] = {}
    for module_info in pkgutil.walk_packages(crm_core.__path__, "crm_core."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, CrmAggregate) and value is not CrmAggregate:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found, key=lambda k: found[k].__name__)]


def _type_name(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    text = text or str(annotation)
    for prefix in (
        "typing.",
        "uuid.",
        "decimal.",
        "datetime.",
        "crm_core.values.",
        "crm_core.sales.domainmodel.",
    ):
        text = text.replace(prefix, "")
    # A union's bar would split the Markdown table cell.
    return text.replace("NoneType", "None").replace(" | ", " \\| ")


def _own_fields(event_class: type) -> list[str]:
    return [
        field.name
        for field in dataclasses.fields(event_class)  # type: ignore[arg-type]
        if field.name not in _COMMON and field.name not in _HIDDEN
    ]


def _events(aggregate: type[CrmAggregate]) -> list[type]:
    events = []
    for name, value in vars(aggregate).items():
        if (
            isinstance(value, type)
            and issubclass(value, CrmAggregate.Event)
            and name != "Event"
            and value.__qualname__.startswith(aggregate.__name__)
            # The library redefines the inherited "Created" base on every aggregate;
            # only a "Created" that declares fields is an event of its own.
            and (name != "Created" or _own_fields(value))
        ):
            events.append(value)
    return events


def _personal(event_class: type) -> str:
    declared = personal_data_of(event_class)
    if declared is None:
        return "—"
    owner = f", clé détenue par `{declared.owner}`" if declared.owner else ""
    fields = ", ".join(f"`{name}`" for name in declared.fields) or "aucun champ, donne la clé"
    return fields + f" (sujet `{declared.subject}`{owner})"


def render() -> str:
    lines = [
        "# Catalogue des événements",
        "",
        "Généré depuis le code par `python -m event_store.catalogue` ; un test échoue quand ce",
        "fichier n’est plus à jour. Un événement est un fait : on ne le renomme ni ne le",
        "modifie ; il évolue par `class_version` et des upcasters.",
        "",
        "Les données personnelles sont chiffrées par personne concernée et effaçables",
        "(voir `event_store/RGPD.md`).",
        "",
        "Champs communs à tous les événements : "
        + ", ".join(f"`{name}`" for name in _COMMON)
        + ". Le topic stocké est `module:Agrégat.Événement`.",
        "",
    ]
    for aggregate in _aggregates():
        lines += [
            f"## {aggregate.__name__}",
            "",
            f"`{aggregate.__module__}` — {(aggregate.__doc__ or '').strip().splitlines()[0]}",
            "",
        ]
        lines += [
            "| Événement | Version | Champs | Données personnelles (chiffrées) |",
            "|---|---|---|---|",
        ]
        for event_class in _events(aggregate):
            hints = typing.get_type_hints(event_class)
            fields = [
                f"`{field.name}`: {_type_name(hints.get(field.name))}"
                for field in dataclasses.fields(event_class)
                if field.name not in _COMMON and field.name not in _HIDDEN
            ]
            version = getattr(event_class, "class_version", 1)
            lines.append(
                f"| `{event_class.__qualname__}` | {version} | "
                f"{', '.join(fields) or '—'} | {_personal(event_class)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = CATALOGUE.read_text(encoding="utf-8") if CATALOGUE.exists() else ""
        if current != text:
            sys.stderr.write(
                "event_store/EVENTS.md n’est plus à jour : "
                "lancez `uv run python -m event_store.catalogue`.\n"
            )
            return 1
        return 0
    CATALOGUE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
