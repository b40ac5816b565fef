"""The inbox domain in memory: addresses, rules, replies, delivery states."""

from __future__ import annotations

from uuid import uuid4

import pytest

from crm_core.errors import DomainError, InvalidInputError
from crm_core.ids import email_id_for, normalise_message_id
from crm_core.inbox.addresses import client_inbox_address, client_inbox_key, parse_plus_address
from crm_core.inbox.application import reply_text
from crm_core.inbox.domainmodel import DeliveryState, EmailMessage, InboxRules

SECRET = b"secret-de-test"


def test_an_inbox_key_is_stable_short_and_depends_on_the_workspace() -> None:
    client = uuid4()
    a, b = uuid4(), uuid4()
    key = client_inbox_key(SECRET, a, client)
    assert key == client_inbox_key(SECRET, a, client)
    assert len(key) == 12 and key.isalnum() and key == key.lower()
    assert key != client_inbox_key(SECRET, b, client)
    assert key != client_inbox_key(b"autre-secret", a, client)


def test_an_inbox_address_round_trips_through_the_parser() -> None:
    ws, client = uuid4(), uuid4()
    address = client_inbox_address(SECRET, ws, client, "Agence.FR")
    parsed = parse_plus_address(address.upper())
    assert parsed is not None
    assert (parsed.key, parsed.domain) == (client_inbox_key(SECRET, ws, client), "agence.fr")
    assert client_inbox_address(SECRET, ws, client, "") == ""
    assert parse_plus_address("inbox+court@agence.fr") is None
    assert parse_plus_address("alice+abcdefghijkl@agence.fr") is None


def test_message_ids_are_normalised_before_deriving_ids() -> None:
    ws = uuid4()
    assert normalise_message_id("  <abc@host> ") == "<abc@host>"
    assert normalise_message_id("abc@host") == "<abc@host>"
    assert email_id_for(ws, "abc@host") == email_id_for(ws, "<abc@host>")
    assert email_id_for(ws, "<abc@host>") != email_id_for(uuid4(), "<abc@host>")


def test_rules_match_a_recipient_or_a_subject_glob() -> None:
    rules = InboxRules(workspace_id=uuid4())
    rules.add_rule(critere="destinataire", motif="Support@Agence.fr", priorite="haute")
    rules.add_rule(critere="sujet", motif="*URGENT*")
    by_recipient = rules.match(("support@agence.fr",), "Bonjour")
    assert by_recipient is not None and by_recipient.priorite.value == "haute"
    by_subject = rules.match(("x@agence.fr",), "Re:  très   urgent  svp")
    assert by_subject is not None and by_subject.critere.value == "sujet"
    assert rules.match(("x@agence.fr",), "Bonjour") is None
    with pytest.raises(DomainError, match="existe déjà"):
        rules.add_rule(critere="sujet", motif="*urgent*")
    with pytest.raises(InvalidInputError):
        rules.add_rule(critere="corps", motif="x")


def test_a_reply_keeps_only_the_new_text() -> None:
    text = "Merci !\nÀ demain.\n\nLe 3 mars 2026 à 10:00, Support a écrit :\n> Bonjour\n> ..."
    assert reply_text(text) == "Merci !\nÀ demain."
    assert reply_text("> tout est cité") == ""


def test_an_outgoing_email_moves_from_pending_to_sent_once() -> None:
    ws = uuid4()
    email = EmailMessage.request_send(
        email_id=uuid4(),
        workspace_id=ws,
        client_id=uuid4(),
        message_id="<m@agence.fr>",
        destinataires=["alice@client.fr"],
        sujet="Devis",
        texte="Bonjour",
        auteur="user:1",
        thread_id=uuid4(),
    )
    assert email.etat_envoi is DeliveryState.EN_ATTENTE
    email.record_failure("timeout", definitif=False)
    assert (email.etat_envoi, email.tentatives) == (DeliveryState.NOUVEL_ESSAI, 1)
    email.mark_sent("250 OK")
    email.mark_sent("250 OK")  # a redelivered job changes nothing
    assert (email.etat_envoi, email.tentatives) == (DeliveryState.ENVOYE, 2)
    assert [type(e).__name__ for e in email.collect_events()] == [
        "SendRequested",
        "SendFailed",
        "Sent",
    ]


def test_an_outgoing_email_needs_a_valid_recipient() -> None:
    with pytest.raises(InvalidInputError) as error:
        EmailMessage.request_send(
            email_id=uuid4(),
            workspace_id=uuid4(),
            client_id=uuid4(),
            message_id="<m@agence.fr>",
            destinataires=["pas une adresse"],
            sujet="",
            texte="Bonjour",
            auteur="user:1",
            thread_id=uuid4(),
        )
    assert set(error.value.errors) == {"destinataires", "sujet"}


def test_a_quarantined_message_is_set_aside_once_and_nothing_else_can_be() -> None:
    ws = uuid4()
    quarantined = EmailMessage.quarantine(
        email_id=uuid4(), workspace_id=ws, raison="Illisible.", sha256="0" * 64, taille=12
    )
    quarantined.dismiss()
    quarantined.dismiss()  # a second click changes nothing
    dismissed = [e for e in quarantined.collect_events() if type(e).__name__ == "Dismissed"]
    assert len(dismissed) == 1 and quarantined.ecarte
    with pytest.raises(DomainError, match="Un message en quarantaine ne peut pas être rattaché"):
        quarantined.attach_to(uuid4())
    logged = EmailMessage.quarantine(
        email_id=uuid4(), workspace_id=ws, raison="x", sha256="1" * 64, taille=1
    )
    logged.quarantaine = False  # as a received message is
    with pytest.raises(DomainError, match="Seul un message en quarantaine peut être ignoré"):
        logged.dismiss()
