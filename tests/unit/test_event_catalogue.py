"""EVENTS.md is generated from the code and must not go stale."""

from event_store import catalogue


def test_the_event_catalogue_matches_the_code() -> None:
    assert catalogue.CATALOGUE.read_text(encoding="utf-8") == catalogue.render(), (
        "event_store/EVENTS.md est périmé : lancez `uv run python -m event_store.catalogue`."
    )


def test_the_catalogue_names_every_event_with_its_fields() -> None:
    text = catalogue.render()
    assert "| `Opportunity.Won` | 1 | `montant`: Decimal, `devise`: str, `de`: Stage |" in text
    assert "`Client.Registered`" in text
