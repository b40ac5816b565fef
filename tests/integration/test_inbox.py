"""The inbox on a real PostgreSQL: manual entries, ingestion, attaching, rules, tickets,
quarantine, encrypted settings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from adapters.mail.ingest import MailIngestor
from crm_core.context import acting_as, user_actor
from crm_core.errors import DomainError
from crm_core.inbox.addresses import parse_plus_address
from tests.support.mail import FIXTURES, MailSpace, corpus, new_client, new_mail_space
from web.container import Container
from web.mail import build_ingestor, inbox_address

CLIENT_EMAIL = "alice@client.example"


@pytest.fixture(scope="module")
def ingestor(container: Container) -> MailIngestor:
    return build_ingestor(container)


@pytest.fixture
def space(container: Container) -> MailSpace:
    return new_mail_space(container)


def _emails(container: Container, space: MailSpace, client_id: UUID, position: int) -> list:  # type: ignore[type-arg]
    container.wait(position, "inbox", "timeline")
    return container.inbox_view.for_client(space.workspace_id, client_id).items


def test_a_manually_logged_email_shows_in_the_client_emails_and_timeline(
    container: Container, space: MailSpace
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    staff = UUID(int=7)
    with acting_as(user_actor(staff)):
        receipt = container.inbox.log_email(
            space.workspace_id,
            client_id,
            expediteur=CLIENT_EMAIL,
            sujet="Relance devis",
            texte="Le client demande où en est le devis.",
            sens="entrant",
            date_message=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
            auteur=user_actor(staff),
        )
    emails = _emails(container, space, client_id, receipt.position)
    assert [(e.sujet, e.sens, e.auteur, e.origine) for e in emails] == [
        ("Relance devis", "entrant", f"user:{staff}", "manuel")
    ]
    timeline = container.timeline.for_client(space.workspace_id, client_id, kinds=["email_client"])
    (entry,) = timeline.items
    assert entry.meta["sens"] == "entrant"
    assert entry.auteur == f"user:{staff}"
    assert entry.date_evenement == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert "Relance devis" in entry.description_texte


def test_a_manual_entry_with_bad_fields_is_refused_with_french_messages(
    container: Container, space: MailSpace
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    with pytest.raises(DomainError, match="obligatoire"):
        container.inbox.log_email(
            space.workspace_id,
            client_id,
            expediteur="pas-une-adresse",
            sujet="",
            texte="",
            sens="lateral",
            date_message=datetime(2026, 3, 2, tzinfo=UTC),
            auteur="x",
        )


def test_the_same_message_id_twice_gives_one_entry(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    raw = corpus("alternative.eml", FROM=CLIENT_EMAIL, TO=f"contact@{space.domain}")
    first = ingestor.ingest(space.workspace_id, raw)
    second = ingestor.ingest(space.workspace_id, raw)
    assert (first.statut, second.statut) == ("recu", "doublon")
    assert first.email_id == second.email_id
    emails = _emails(container, space, client_id, second.position)
    assert len(emails) == 1
    detail = container.inbox_view.get(space.workspace_id, emails[0].id)
    assert detail is not None
    assert "<script" not in detail.html and "devis" in detail.html
    assert "javascript:" not in detail.html
    assert detail.rattachement == "expediteur"


def test_a_message_without_message_id_is_known_by_its_bytes(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    raw = corpus("no_message_id.eml", FROM="inconnu@ailleurs.example", TO=f"x@{space.domain}")
    first = ingestor.ingest(space.workspace_id, raw)
    second = ingestor.ingest(space.workspace_id, raw)
    assert second.statut == "doublon" and first.email_id == second.email_id
    container.wait(second.position, "inbox")
    assert container.inbox_view.unsorted(space.workspace_id).total == 1


def test_a_plus_address_attaches_the_message_to_its_client(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    address = inbox_address(container, space.workspace_id, client_id)
    plus = parse_plus_address(address)
    assert plus is not None and plus.domain == space.domain
    raw = corpus("latin1.eml", FROM="quelquun@autre.example", TO=address)
    result = ingestor.deliver(raw, [address])
    assert [(r.statut, r.client_id) for r in result] == [("recu", client_id)]
    (email,) = _emails(container, space, client_id, result[0].position)
    assert email.sujet == "Réunion de démarrage"
    assert "réunion est prévue à l'agence" in email.extrait


def test_a_plus_address_into_another_workspace_never_attaches_there(
    container: Container, ingestor: MailIngestor
) -> None:
    """A's key with B's domain is unknown in B; with a shared domain it resolves in A only."""
    a = new_mail_space(container)
    b = new_mail_space(container)
    client_a = new_client(container, a, CLIENT_EMAIL)
    key = inbox_address(container, a.workspace_id, client_a).split("@")[0]
    wrong = f"{key}@{b.domain}"
    raw = corpus("no_message_id.eml", FROM="x@nulle-part.example", TO=wrong)
    (result,) = ingestor.deliver(raw, [wrong])
    assert result.workspace_id == b.workspace_id and result.client_id is None
    container.wait(result.position, "inbox")
    assert container.inbox_view.unsorted(b.workspace_id).total == 1
    assert container.inbox_view.for_client(a.workspace_id, client_a).total == 0

    shared = new_mail_space(container, domain=a.domain)  # same domain, other tenant
    right = f"{key}@{a.domain}"
    raw = corpus("latin1.eml", FROM="x@nulle-part.example", TO=right)
    results = {r.workspace_id: r for r in ingestor.deliver(raw, [right])}
    assert results[a.workspace_id].client_id == client_a
    assert results[shared.workspace_id].client_id is None


def test_an_unknown_sender_waits_in_a_trier_until_attached(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    raw = corpus("attachment.eml", FROM="nouveau@prospect.example", TO=f"contact@{space.domain}")
    result = ingestor.ingest(space.workspace_id, raw)
    container.wait(result.position, "inbox")
    (unsorted,) = container.inbox_view.unsorted(space.workspace_id).items
    assert unsorted.nb_pieces_jointes == 1
    receipt = container.inbox.attach_to_client(space.workspace_id, unsorted.id, client_id)
    (email,) = _emails(container, space, client_id, receipt.position)
    assert email.id == unsorted.id
    assert container.inbox_view.unsorted(space.workspace_id).total == 0
    entries = container.timeline.for_client(space.workspace_id, client_id, kinds=["email_client"])
    assert [e.meta["sens"] for e in entries.items] == ["entrant"]
    detail = container.inbox_view.get(space.workspace_id, email.id)
    assert detail is not None
    (attachment,) = detail.pieces_jointes
    stored = container.settings.data_dir / "mail" / "pieces-jointes"
    assert (stored / attachment.sha256[:2] / attachment.sha256[2:4] / attachment.sha256).exists()


def test_a_contact_address_attaches_to_the_contact_client(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, "societe@client.example")
    with acting_as("system"):
        receipt = container.sales.add_contact(
            space.workspace_id, client_id, nom="Bob", email="bob@client.example"
        )
    container.wait(receipt.position, "clients")
    raw = corpus("forwarded.eml", FROM="Bob@Client.example", TO=f"contact@{space.domain}")
    result = ingestor.ingest(space.workspace_id, raw)
    assert result.client_id == client_id
    (email,) = _emails(container, space, client_id, result.position)
    detail = container.inbox_view.get(space.workspace_id, email.id)
    assert detail is not None and "Facture 2026-031" in detail.texte


def test_a_recipient_rule_opens_a_ticket_but_an_auto_reply_never_does(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    new_client(container, space, CLIENT_EMAIL)
    support = f"support@{space.domain}"
    container.inbox.add_ticket_rule(
        space.workspace_id, critere="destinataire", motif=support, priorite="haute"
    )
    loop = ingestor.ingest(space.workspace_id, corpus("loop.eml", FROM=CLIENT_EMAIL, TO=support))
    assert loop.statut == "recu" and loop.ticket_id is None
    bounce = ingestor.ingest(space.workspace_id, corpus("bounce.eml", TO=support))
    assert bounce.ticket_id is None
    result = ingestor.ingest(
        space.workspace_id, corpus("alternative.eml", FROM=CLIENT_EMAIL, TO=support)
    )
    assert result.action_ticket == "ouvert" and result.ticket_id is not None
    container.wait(result.position, "tickets", "inbox")
    ticket = container.tickets.get(space.workspace_id, result.ticket_id)
    assert ticket is not None
    assert (ticket.source, ticket.priorite, ticket.sujet) == (
        "email",
        "haute",
        "Devis site vitrine",
    )


def test_a_subject_rule_matches_a_glob_pattern(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    new_client(container, space, CLIENT_EMAIL)
    container.inbox.add_ticket_rule(space.workspace_id, critere="sujet", motif="*réunion*")
    rules = container.inbox_view
    result = ingestor.ingest(
        space.workspace_id, corpus("latin1.eml", FROM=CLIENT_EMAIL, TO=f"x@{space.domain}")
    )
    assert result.action_ticket == "ouvert"
    container.wait(result.position, "inbox")
    assert [r.motif for r in rules.rules(space.workspace_id)] == ["*réunion*"]


def test_a_reply_to_a_ticket_notification_is_added_to_that_ticket(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    ticket = container.support.open_ticket(
        space.workspace_id, client_id, sujet="Bug formulaire", description="Le formulaire plante."
    )
    sent = container.inbox.request_send(
        space.workspace_id,
        client_id,
        destinataires=[CLIENT_EMAIL],
        sujet="Votre ticket",
        texte="Pouvez-vous vérifier ?",
        auteur="user:staff",
        ticket_id=ticket.id,
    )
    message_id = container.inbox.outgoing(space.workspace_id, sent.id).message_id
    raw = corpus("reply.eml", FROM=CLIENT_EMAIL, TO=f"x@{space.domain}", PARENT=message_id)
    result = ingestor.ingest(space.workspace_id, raw)
    assert (result.action_ticket, result.ticket_id) == ("reponse", ticket.id)
    container.wait(result.position, "tickets", "inbox")
    messages = container.tickets.messages(ticket.id, include_internal=False)
    assert [m.texte for m in messages] == ["Merci, c'est réglé de mon côté."]
    thread = container.inbox_view.thread(space.workspace_id, result.email_id)
    assert thread == [] or all(e.client_id == client_id for e in thread)
    (reply,) = [
        e
        for e in container.inbox_view.for_client(space.workspace_id, client_id).items
        if e.id == result.email_id
    ]
    outgoing = container.inbox_view.get(space.workspace_id, sent.id)
    assert outgoing is not None and reply.thread_id == outgoing.thread_id


def test_unreadable_bytes_are_kept_raw_in_quarantine(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    raw = corpus("garbage.bin")
    result = ingestor.ingest(space.workspace_id, raw)
    assert result.statut == "quarantaine"
    container.wait(result.position, "inbox")
    (row,) = container.inbox_view.quarantined(space.workspace_id).items
    assert row.quarantaine_raison
    detail = container.inbox_view.get(space.workspace_id, row.id)
    assert detail is not None
    assert ingestor.quarantine_store.get(detail.quarantaine_sha256) == raw
    assert container.inbox_view.unsorted(space.workspace_id).total == 0


def test_the_whole_corpus_is_ingested_without_a_crash(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    values = {"FROM": CLIENT_EMAIL, "TO": f"contact@{space.domain}", "PARENT": "<p@x>"}
    statuses = {
        path.name: ingestor.ingest(space.workspace_id, corpus(path.name, **values)).statut
        for path in sorted(corpus_files())
    }
    assert statuses.pop("garbage.bin") == "quarantaine"
    assert set(statuses.values()) == {"recu"}
    last = max(r.position for r in [ingestor.ingest(space.workspace_id, corpus("latin1.eml"))])
    emails = {e.sujet: e for e in _emails(container, space, client_id, last)}
    assert "\ufffd" in emails["Charset inconnu"].extrait
    assert emails["Invitation: Point projet"].extrait.startswith("Invitation : Point projet")
    assert "frontière annoncée" in emails["MIME cassé"].extrait
    assert emails["Re: Absent du bureau"].automatique


def corpus_files() -> list[Path]:
    return [p for p in FIXTURES.iterdir() if p.suffix in (".eml", ".bin")]


def test_smtp_passwords_are_stored_encrypted(container: Container, space: MailSpace) -> None:
    container.inbox.configure_smtp(
        space.workspace_id,
        hote="smtp.example",
        port=587,
        utilisateur="moi",
        mot_de_passe="mot-de-passe-tres-secret",
        expediteur=f"contact@{space.domain}",
    )
    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM crm_events WHERE convert_from(state, 'UTF8') LIKE %s",
            ("%mot-de-passe-tres-secret%",),
        ).fetchone()
    assert row is not None and row[0] == 0
    access = container.inbox.smtp_access(space.workspace_id)
    assert access is not None and access.mot_de_passe == "mot-de-passe-tres-secret"
    assert "secret" not in repr(access)
    container.inbox.configure_smtp(  # a blank password keeps the stored one
        space.workspace_id,
        hote="smtp2.example",
        port=465,
        utilisateur="moi",
        mot_de_passe="",
        expediteur=f"contact@{space.domain}",
        securite="tls",
    )
    access = container.inbox.smtp_access(space.workspace_id)
    assert access is not None and (access.hote, access.mot_de_passe) == (
        "smtp2.example",
        "mot-de-passe-tres-secret",
    )


def test_the_same_message_delivered_concurrently_is_recorded_once(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    raw = corpus("html_only.eml", FROM="x@ailleurs.example", TO=f"a@{space.domain}")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ingestor.ingest(space.workspace_id, raw), range(4)))
    assert sorted(r.statut for r in results) == ["doublon", "doublon", "doublon", "recu"]
    container.wait(max(r.position for r in results), "inbox")
    assert container.inbox_view.unsorted(space.workspace_id).total == 1
    assert container.inbox_view.quarantined(space.workspace_id).total == 0


def test_email_personal_data_is_encrypted_and_shredded_with_the_client_it_was_attached_to(
    container: Container, space: MailSpace, ingestor: MailIngestor
) -> None:
    """RGPD: an email « À trier » has its own key; attaching it gives the key to the
    client, so erasing the client erases the email (event_store/RGPD.md)."""
    sender = f"zanzibar.{space.domain.split('.')[0]}@prospect.example"
    client_id = new_client(container, space, CLIENT_EMAIL)
    raw = corpus("attachment.eml", FROM=sender, TO=f"contact@{space.domain}")
    result = ingestor.ingest(space.workspace_id, raw)
    container.wait(result.position, "inbox")
    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM crm_events WHERE originator_id = %s"
            " AND convert_from(state, 'UTF8') LIKE %s",
            (result.email_id, f"%{sender}%"),
        ).fetchone()
    assert row is not None and row[0] == 0  # the address is stored encrypted
    receipt = container.inbox.attach_to_client(space.workspace_id, result.email_id, client_id)
    container.wait(receipt.position, "inbox", "timeline")
    with acting_as("system"):
        erased = container.sales.erase_client(space.workspace_id, client_id)
    container.wait(erased.position, "inbox", "timeline")
    received = next(iter(container.inbox.events.get(result.email_id)))
    assert (received.expediteur, received.sujet) == ("[effacé]", "[effacé]")
    detail = container.inbox_view.get(space.workspace_id, result.email_id)
    assert detail is not None and sender not in (detail.expediteur, *detail.destinataires)
    assert detail.texte == ""


def test_recipient_lists_are_encrypted_address_by_address_and_read_back_as_tuples(
    container: Container, space: MailSpace
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    with acting_as("system"):
        receipt = container.inbox.request_send(
            space.workspace_id,
            client_id,
            destinataires=[CLIENT_EMAIL, "compta.zanzibar@client.example"],
            cc=["cc.zanzibar@client.example"],
            sujet="Facture Zanzibar",
            texte="Bonjour",
            auteur="system",
        )
    with psycopg.connect(container.conninfo) as conn:
        (state,) = conn.execute(
            "SELECT convert_from(state, 'UTF8') FROM crm_events WHERE originator_id = %s",
            (receipt.id,),
        ).fetchone() or ("",)
    assert "zanzibar" not in state.lower() and "enc:v1:" in state
    outgoing = container.inbox.outgoing(space.workspace_id, receipt.id)
    assert outgoing.destinataires == (CLIENT_EMAIL, "compta.zanzibar@client.example")
    assert outgoing.cc == ("cc.zanzibar@client.example",)
    assert outgoing.sujet == "Facture Zanzibar"
