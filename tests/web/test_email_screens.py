"""The email screens (issue 6): the client's section, writing, « À trier », mail settings.

One logged-in test client per test (more hang on main's session-store pool).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from uuid import UUID

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as, user_actor
from tests.support.mail import corpus
from tests.web.conftest import Tenant
from tests.web.screens import (
    HTMX,
    field_error,
    is_fragment,
    make_client,
    make_opportunity,
    make_ticket,
    settle,
)
from web.mail import build_ingestor

ClientAs = Callable[..., TestClient[Litestar]]


def _set_domain(tenant: Tenant, domain: str) -> None:
    with acting_as(user_actor(tenant.users["admin"])):
        receipt = tenant.container.accounts.update_workspace(
            tenant.workspace_id, nom="Agence Test", domaine_mail=domain
        )
    tenant.container.wait(receipt.position, "accounts", "inbox")


def _emails(tenant: Tenant, client_id: UUID) -> list[str]:
    settle(tenant)
    tenant.container.wait(tenant.container.log.recorder.max_notification_id() or 0, "inbox")
    page = tenant.container.inbox_view.for_client(tenant.workspace_id, client_id)
    return [e.sujet for e in page.items]


def test_a_commercial_logs_an_email_and_sees_it_in_the_section_and_the_timeline(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Atelier Lefèvre", email="contact@lefevre.fr")
    browser = client_as("commercial")
    page = browser.get(f"/clients/{client_id}")
    assert 'id="emails"' in page.text and "Emails / échanges" in page.text
    assert "Aucun email pour l’instant" in page.text
    assert "Pas encore d’adresse de réception" in page.text  # no mail domain yet
    assert "?type=emails" in page.text  # the timeline's « Emails » filter
    response = browser.post(
        f"/clients/{client_id}/emails",
        data={
            "sens": "entrant",
            "expediteur": "contact@lefevre.fr",
            "destinataires": "moi@agence.fr",
            "sujet": "Devis signé",
            "date": "2026-03-02T09:30",
            "texte": "Voici le devis signé.",
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    assert is_fragment(response.text)
    assert 'hx-swap-oob="true"' in response.text  # the timeline comes along
    assert json.loads(response.headers["hx-trigger"])["toast"]["text"] == "Email ajouté."
    assert "Devis signé" in response.text
    assert _emails(tenant, client_id) == ["Devis signé"]
    emails_only = browser.get(f"/clients/{client_id}", params={"type": "emails"})
    timeline = emails_only.text.split('id="chronologie"')[1]
    assert 'data-kind="email_client"' in timeline
    assert 'aria-label="Email"' in timeline and "✉" in timeline
    assert "Email reçu de contact@lefevre.fr : « Devis signé »" in timeline
    assert "2 mars 2026 à 09:30" in timeline
    assert "Commercial" in timeline  # the author
    assert 'class="email-direction">Reçu' in timeline
    assert "client_cree" not in timeline  # filtered out


def test_an_invalid_email_gets_422_next_to_its_fields_and_records_nothing(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Brasserie du Port")
    browser = client_as("admin")
    response = browser.post(
        f"/clients/{client_id}/emails",
        data={"sens": "entrant", "expediteur": "pas-un-email", "sujet": "", "date": "hier"},
    )
    assert response.status_code == 422
    assert field_error(response.text, "mail-date").startswith("Date invalide")
    response = browser.post(
        f"/clients/{client_id}/emails",
        data={
            "sens": "entrant",
            "expediteur": "pas-un-email",
            "sujet": "",
            "date": "2026-03-02T10:00",
        },
        headers=HTMX,
    )
    assert response.status_code == 422
    assert is_fragment(response.text)
    assert field_error(response.text, "mail-sujet") == "Le sujet est obligatoire."
    assert field_error(response.text, "mail-expediteur")
    assert _emails(tenant, client_id) == []


def test_read_only_roles_and_other_owners_cannot_write_emails(
    tenant: Tenant, client_as: ClientAs
) -> None:
    other = make_client(tenant, "Client d’un autre", owner_id=tenant.users["commercial"])
    browser = client_as("developpeur_nocode")
    page = browser.get(f"/clients/{other}")
    assert page.status_code == 200 and "Emails / échanges" in page.text
    assert "Ajouter un email à la main" not in page.text
    assert "/emails/ecrire" not in page.text
    data = {"expediteur": "a@b.fr", "sujet": "X", "date": "2026-03-02T10:00", "texte": "x"}
    assert browser.post(f"/clients/{other}/emails", data=data).status_code == 403
    assert browser.get(f"/clients/{other}/emails/ecrire").status_code == 403
    send = {"destinataires": "a@b.fr", "sujet": "X", "texte": "Y"}
    assert browser.post(f"/clients/{other}/emails/envoi", data=send).status_code == 403
    assert _emails(tenant, other) == []


def test_staff_write_to_a_client_and_the_email_waits_for_delivery(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Garage Moreau", email="garage@moreau.fr")
    browser = client_as("commercial")
    compose = browser.get(f"/clients/{client_id}/emails/ecrire")
    assert compose.status_code == 200
    assert 'value="garage@moreau.fr"' in compose.text
    assert "Lien de paiement" not in compose.text  # no won deal
    invalid = browser.post(
        f"/clients/{client_id}/emails/envoi", data={"destinataires": "", "sujet": "", "texte": ""}
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "destinataires") == "Indiquez au moins un destinataire."
    assert _emails(tenant, client_id) == []
    sent = browser.post(
        f"/clients/{client_id}/emails/envoi",
        data={"destinataires": "garage@moreau.fr", "sujet": "Votre devis", "texte": "Bonjour"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert _emails(tenant, client_id) == ["Votre devis"]
    page = browser.get(f"/clients/{client_id}")
    assert "Email en file d’envoi." in page.text
    # No SMTP server here: the job may already have failed once and be retried.
    section = page.text.split('id="emails"')[1]
    assert re.search(r"badge delivery-(en_attente|nouvel_essai)", section)
    assert re.search(r">(En attente|Nouvel essai)<", section)
    timeline = page.text.split('id="chronologie"')[1]
    assert "Email envoyé à garage@moreau.fr : « Votre devis »" in timeline
    assert re.search(r"badge delivery-(en_attente|nouvel_essai)", timeline)


def test_the_portal_template_prefills_a_french_message_with_the_link(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Fromagerie des Alpes", email="bonjour@alpes.fr")
    browser = client_as("admin")
    prepared = browser.post(f"/clients/{client_id}/emails/modele", data={"modele": "portail"})
    assert prepared.status_code == 200, prepared.text
    assert "Bonjour Fromagerie des Alpes" in prepared.text
    assert "/portail/" in prepared.text
    assert "Message préparé" in prepared.text
    unknown = browser.post(f"/clients/{client_id}/emails/modele", data={"modele": "paiement"})
    assert unknown.status_code == 422
    assert "Lien indisponible" in unknown.text


def test_a_trier_lists_unsorted_mail_and_attaches_it_in_one_click(
    tenant: Tenant, client_as: ClientAs
) -> None:
    domain = f"w{tenant.workspace_id.hex[:10]}.test"
    _set_domain(tenant, domain)
    client_id = make_client(tenant, "Prospect SARL", email="direction@prospect.example")
    raw = corpus("attachment.eml", FROM="nouveau@prospect.example", TO=f"contact@{domain}")
    result = build_ingestor(tenant.container).ingest(tenant.workspace_id, raw)
    tenant.container.wait(result.position, "inbox")
    assert result.client_id is None
    browser = client_as("commercial")
    page = browser.get("/emails/a-trier")
    assert page.status_code == 200
    assert "Contrat signe" in page.text
    assert "Rattacher à Prospect SARL" in page.text  # same domain: one click
    attached = browser.post(
        f"/emails/{result.email_id}/rattacher",
        data={"client_id": str(client_id)},
        follow_redirects=False,
    )
    assert attached.status_code == 303
    assert _emails(tenant, client_id) == ["Contrat signe"]
    after = browser.get("/emails/a-trier")
    assert "Email rattaché à Prospect SARL." in after.text
    assert "Rien à trier" in after.text
    detail = browser.get(f"/emails/{result.email_id}")
    assert detail.status_code == 200 and "nouveau@prospect.example" in detail.text
    client_page = browser.get(f"/clients/{client_id}").text
    assert "Adresse de réception du client" in client_page
    assert f"@{domain}" in client_page and "data-copy=" in client_page
    fiche = browser.get(f"/api/clients/{client_id}").json()
    assert fiche["adresseInbox"].endswith(f"@{domain}")
    assert fiche["adresseInbox"] in client_page


def test_a_read_only_role_cannot_attach_mail(tenant: Tenant, client_as: ClientAs) -> None:
    domain = f"w{tenant.workspace_id.hex[:10]}.test"
    _set_domain(tenant, domain)
    client_id = make_client(tenant, "Client protégé", owner_id=tenant.users["commercial"])
    raw = corpus("attachment.eml", FROM="x@inconnu.example", TO=f"contact@{domain}")
    result = build_ingestor(tenant.container).ingest(tenant.workspace_id, raw)
    tenant.container.wait(result.position, "inbox")
    browser = client_as("developpeur_automatisme")
    page = browser.get("/emails/a-trier")
    assert page.status_code == 200 and "Rattacher" not in page.text
    refused = browser.post(
        f"/emails/{result.email_id}/rattacher", data={"client_id": str(client_id)}
    )
    assert refused.status_code == 403
    assert _emails(tenant, client_id) == []


@pytest.mark.parametrize("role", ["commercial", "developpeur_nocode"])
def test_mail_settings_are_for_administrators_only(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    browser = client_as(role)
    assert browser.get("/parametres/email").status_code == 403
    smtp = {"hote": "smtp.x.fr", "port": "587", "expediteur": "a@x.fr", "mot_de_passe": "s"}
    assert browser.post("/parametres/email/smtp", data=smtp).status_code == 403
    rule = {"critere": "sujet", "motif": "urgent*"}
    assert browser.post("/parametres/email/regles", data=rule).status_code == 403
    assert tenant.container.inbox.smtp_access(tenant.workspace_id) is None
    assert tenant.container.inbox_view.rules(tenant.workspace_id) == []


def test_an_admin_saves_smtp_and_imap_without_the_password_coming_back(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("admin")
    page = browser.get("/parametres/email")
    assert page.status_code == 200 and "Envoi (SMTP)" in page.text
    invalid = browser.post(
        "/parametres/email/smtp",
        data={"hote": "", "port": "99999", "expediteur": "x", "mot_de_passe": "tres-secret"},
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "smtp-port").startswith("Le port doit")
    assert "tres-secret" not in invalid.text
    assert tenant.container.inbox.smtp_access(tenant.workspace_id) is None
    saved = browser.post(
        "/parametres/email/smtp",
        data={
            "hote": "smtp.agence.fr",
            "port": "587",
            "securite": "starttls",
            "utilisateur": "moi",
            "mot_de_passe": "tres-secret-smtp",
            "expediteur": "contact@agence.fr",
        },
    )
    assert saved.status_code == 200  # followed to the page
    assert "Serveur d’envoi (SMTP) enregistré." in saved.text
    assert "tres-secret-smtp" not in saved.text
    assert 'value="smtp.agence.fr"' in saved.text
    assert "enregistré — laissez vide pour le garder" in saved.text
    imap = browser.post(
        "/parametres/email/imap",
        data={
            "hote": "imap.agence.fr",
            "port": "993",
            "securite": "tls",
            "utilisateur": "moi",
            "mot_de_passe": "tres-secret-imap",
            "dossier": "INBOX",
        },
    )
    assert "tres-secret-imap" not in imap.text and 'value="imap.agence.fr"' in imap.text
    access = tenant.container.inbox.smtp_access(tenant.workspace_id)
    assert access is not None and access.mot_de_passe == "tres-secret-smtp"
    with psycopg.connect(tenant.container.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM crm_events WHERE convert_from(state, 'UTF8') LIKE %s",
            ("%tres-secret%",),
        ).fetchone()
    assert row is not None and row[0] == 0


def test_an_admin_adds_and_removes_an_email_to_ticket_rule(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("admin")
    invalid = browser.post(
        "/parametres/email/regles", data={"critere": "destinataire", "motif": "pas-une-adresse"}
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "rule-motif")
    assert tenant.container.inbox_view.rules(tenant.workspace_id) == []
    added = browser.post(
        "/parametres/email/regles",
        data={"critere": "sujet", "motif": "Urgent*", "type_ticket": "bug", "priorite": "haute"},
    )
    assert "Règle ajoutée." in added.text and "urgent*" in added.text
    (rule,) = tenant.container.inbox_view.rules(tenant.workspace_id)
    assert (rule.critere, rule.type_ticket, rule.priorite) == ("sujet", "bug", "haute")
    removed = browser.post(f"/parametres/email/regles/{rule.id}/supprimer")
    assert "Règle supprimée." in removed.text
    assert tenant.container.inbox_view.rules(tenant.workspace_id) == []


def test_writing_from_a_ticket_prefills_the_reply_and_goes_back_to_the_ticket(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Pharmacie Centrale", email="contact@pharmacie.fr")
    ticket_id = make_ticket(tenant, client_id, sujet="Le site est lent")
    browser = client_as("admin")
    ticket_page = browser.get(f"/tickets/{ticket_id}")
    assert f"/clients/{client_id}/emails/ecrire?ticket={ticket_id}" in ticket_page.text
    compose = browser.get(f"/clients/{client_id}/emails/ecrire", params={"ticket": str(ticket_id)})
    assert 'value="Re: Le site est lent"' in compose.text
    assert f'name="ticket_id" value="{ticket_id}"' in compose.text
    sent = browser.post(
        f"/clients/{client_id}/emails/envoi",
        data={
            "destinataires": "contact@pharmacie.fr",
            "sujet": "Re: Le site est lent",
            "texte": "C’est corrigé.",
            "ticket_id": str(ticket_id),
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/tickets/{ticket_id}"
    assert _emails(tenant, client_id) == ["Re: Le site est lent"]
    nothing = browser.post(
        "/emails/00000000-0000-0000-0000-000000000000/rattacher",
        data={"client_id": ""},
        follow_redirects=True,
    )
    assert nothing.status_code == 200 and "Choisissez un client." in nothing.text


def test_the_payment_template_prefills_the_link_of_a_won_deal(
    tenant: Tenant, client_as: ClientAs, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = make_client(tenant, "Domaine Viticole Roux", email="vin@roux.fr")
    opportunity_id = make_opportunity(tenant, client_id, titre="Site du domaine")
    with acting_as(user_actor(tenant.users["admin"])):
        tenant.container.sales.move_opportunity(tenant.workspace_id, opportunity_id, "gagne")
    settle(tenant)

    class Link(msgspec.Struct):
        url: str
        position: int

    asked: list[UUID] = []

    def request_payment(workspace_id: UUID, opportunity: UUID) -> Link:
        asked.append(opportunity)
        return Link("https://checkout.stripe.test/c/pay/cs_test_42", 0)

    # Stripe itself is covered by the payment tests: here only the message matters.
    monkeypatch.setattr(tenant.container.billing, "request_payment", request_payment)
    browser = client_as("commercial")
    compose = browser.get(f"/clients/{client_id}/emails/ecrire")
    assert "Lien de paiement" in compose.text and "Site du domaine" in compose.text
    prepared = browser.post(
        f"/clients/{client_id}/emails/modele",
        data={"modele": "paiement", "opportunite_id": str(opportunity_id)},
    )
    assert prepared.status_code == 200, prepared.text
    assert asked == [opportunity_id]
    assert 'value="Votre lien de paiement : Site du domaine"' in prepared.text
    assert "https://checkout.stripe.test/c/pay/cs_test_42" in prepared.text
    assert "Bonjour Domaine Viticole Roux" in prepared.text
