"""A realistic French demo workspace: clients, a full pipeline, tickets, activities."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from crm_core.context import acting_as, user_actor
from crm_core.values import Address
from web.container import Container

DEMO_ADMIN_EMAIL = "admin@demo.crm"
DEMO_PASSWORD = "demo-crm-2026"  # noqa: S105  (the printed login of the demo workspace)

_COMPANIES = [
    ("Boulangerie Martin", "Lyon", "69002"),
    ("Atelier Lefèvre", "Nantes", "44000"),
    ("Cabinet Durand & Associés", "Paris", "75008"),
    ("Garage Moreau", "Lille", "59000"),
    ("Fromagerie des Alpes", "Annecy", "74000"),
    ("Studio Lumière", "Marseille", "13001"),
    ("Pharmacie Centrale", "Bordeaux", "33000"),
    ("Cave Saint-Vincent", "Dijon", "21000"),
    ("Menuiserie Bernard", "Rennes", "35000"),
    ("Librairie Le Chapitre", "Toulouse", "31000"),
    ("Clinique Vétérinaire du Parc", "Nice", "06000"),
    ("Hôtel Les Tilleuls", "Strasbourg", "67000"),
    ("Agence Immobilière Rivage", "La Rochelle", "17000"),
    ("Brasserie du Port", "Brest", "29200"),
    ("Cabinet Kiné Santé Plus", "Grenoble", "38000"),
    ("Fleuriste L’Orchidée", "Tours", "37000"),
    ("Auto-École Pilote", "Reims", "51100"),
    ("Domaine Viticole Roux", "Beaune", "21200"),
    ("Coopérative Bio Terroir", "Clermont-Ferrand", "63000"),
    ("Salon Coiffure Élégance", "Montpellier", "34000"),
    ("Imprimerie Gutenberg", "Rouen", "76000"),
    ("Start-up Nuage Vert", "Paris", "75011"),
    ("Association Sport Pour Tous", "Angers", "49000"),
    ("Architecte Blanc Studio", "Aix-en-Provence", "13100"),
    ("Traiteur Saveurs du Sud", "Avignon", "84000"),
]
_PEOPLE = [
    ("Camille Petit", "Paris"),
    ("Julien Garnier", "Lyon"),
    ("Sophie Faure", "Nantes"),
    ("Lucas Mercier", "Bordeaux"),
    ("Chloé Lambert", "Lille"),
    ("Hugo Bonnet", "Toulouse"),
    ("Manon Girard", "Nice"),
    ("Thomas Rousseau", "Rennes"),
]
_PROJECTS = [
    "Refonte du site vitrine",
    "Boutique en ligne",
    "Application de réservation",
    "Automatisation des devis",
    "Identité visuelle",
    "Maintenance annuelle",
    "Tableau de bord Airtable",
    "Intégration Stripe",
    "Formation Notion",
    "Audit SEO",
    "Workflow n8n factures",
    "Landing page campagne",
    "Migration WordPress",
    "CRM sur mesure",
    "Newsletter mensuelle",
    "Photos produits",
]
_TICKETS = [
    ("Le formulaire de contact n’envoie plus", "bug", "haute"),
    ("Question sur la facture de novembre", "question", "normale"),
    ("Ajouter une page Équipe", "demande", "normale"),
    ("Le paiement en ligne échoue sur mobile", "bug", "urgente"),
    ("Comment modifier les horaires d’ouverture ?", "question", "basse"),
    ("Export des commandes en CSV", "demande", "normale"),
]
_LOSS_REASONS = [
    "Budget insuffisant",
    "Choix d’un concurrent",
    "Projet reporté à l’an prochain",
    "Pas de réponse du client",
]


@dataclass(frozen=True)
class DemoLogin:
    workspace_id: UUID
    email: str
    password: str
    created: bool


def _slug(name: str) -> str:
    cleaned = "".join(c.lower() if c.isalnum() else "-" for c in name)
    for accented, plain in (("é", "e"), ("è", "e"), ("ê", "e"), ("ô", "o"), ("’", "")):
        cleaned = cleaned.replace(accented, plain)
    return "-".join(part for part in cleaned.split("-") if part)


def load_demo(container: Container, *, seed: int = 2026) -> DemoLogin:
    """Create the demo workspace once; a second call only returns its login."""
    existing = container.accounts_view.user_by_email(DEMO_ADMIN_EMAIL)
    if existing is not None:
        return DemoLogin(existing.workspace_id, DEMO_ADMIN_EMAIL, DEMO_PASSWORD, created=False)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with acting_as("system"):
        workspace = container.accounts.create_workspace(
            nom="Studio Dupont",
            raison_sociale="Dupont Création SARL",
            siret="73282932000074",
            numero_tva="FR44732829320",
            devise="EUR",
            domaine_mail="studio-dupont.fr",
        ).id
        admin = container.accounts.register_user(
            workspace,
            email=DEMO_ADMIN_EMAIL,
            nom="Claire Dupont",
            role="admin",
            password=DEMO_PASSWORD,
        ).id
        sales_rep = container.accounts.register_user(
            workspace,
            email="marc@demo.crm",
            nom="Marc Leroy",
            role="commercial",
            password=DEMO_PASSWORD,
        ).id
        dev = container.accounts.register_user(
            workspace,
            email="ines@demo.crm",
            nom="Inès Haddad",
            role="developpeur_nocode",
            password=DEMO_PASSWORD,
        ).id
        container.accounts.register_user(
            workspace,
            email="paul@demo.crm",
            nom="Paul Renaud",
            role="developpeur_automatisme",
            password=DEMO_PASSWORD,
        )
    staff = [admin, sales_rep]
    clients: list[UUID] = []
    with acting_as(user_actor(admin)):
        for name, city, postcode in _COMPANIES:
            slug = _slug(name)
            client = container.sales.register_client(
                workspace,
                nom=name,
                type_client="entreprise",
                email=f"contact@{slug}.fr",
                telephone=f"0{rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                f"{rng.randint(10, 99)} {rng.randint(10, 99)}",
                adresse=Address(
                    rue=f"{rng.randint(1, 120)} rue de la République",
                    code_postal=postcode,
                    ville=city,
                ),
                tags=tuple(
                    rng.sample(
                        ["pme", "artisan", "commerce", "fidèle", "prioritaire", "nouveau"], k=2
                    )
                ),
                owner_id=rng.choice(staff),
            ).id
            first = rng.choice(["Anne", "Bruno", "Céline", "David", "Emma", "Fabien"])
            container.sales.add_contact(
                workspace,
                client,
                nom=f"{first} {name.split()[-1]}",
                email=f"{first.lower()}@{slug}.fr",
                fonction="Gérant·e",
            )
            clients.append(client)
        for name, city in _PEOPLE:
            clients.append(
                container.sales.register_client(
                    workspace,
                    nom=name,
                    type_client="particulier",
                    email=f"{_slug(name).replace('-', '.')}@exemple.fr",
                    adresse=Address(ville=city),
                    tags=("particulier",),
                    owner_id=sales_rep,
                ).id
            )
        stages = (
            ["prospect"] * 16
            + ["qualification"] * 14
            + ["proposition"] * 14
            + ["negociation"] * 12
            + ["gagne"] * 16
            + ["perdu"] * 10
        )
        for index, stage in enumerate(stages):
            client = clients[index % len(clients)]
            amount = Decimal(rng.choice([450, 900, 1200, 1800, 2500, 3200, 4800, 6500, 9000]))
            opportunity = container.sales.open_opportunity(
                workspace,
                client,
                titre=rng.choice(_PROJECTS),
                montant_estime=amount,
                date_cloture_prevue=now.date() + timedelta(days=rng.randint(-20, 90)),
                probabilite=rng.choice([10, 25, 50, 75, 90]),
                owner_id=rng.choice(staff),
            ).id
            order = ["prospect", "qualification", "proposition", "negociation"]
            reached = order.index(stage) if stage in order else rng.randint(1, 3)
            for step in order[1 : reached + 1]:
                container.sales.move_opportunity(workspace, opportunity, step)
            if stage == "gagne":
                container.sales.move_opportunity(workspace, opportunity, "gagne")
            elif stage == "perdu":
                container.sales.move_opportunity(
                    workspace, opportunity, "perdu", raison=rng.choice(_LOSS_REASONS)
                )
        for index, client in enumerate(clients):
            kinds = ["note", "appel", "reunion"]
            for offset in range(rng.randint(1, 3)):
                kind = kinds[(index + offset) % 3]
                container.sales.log_activity(
                    workspace,
                    client,
                    kind=kind,
                    sujet={
                        "note": "Point sur le besoin",
                        "appel": "Appel de suivi",
                        "reunion": "Atelier de cadrage",
                    }[kind],
                    contenu="Le client souhaite avancer avant la fin du trimestre.",
                    date_activite=now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 8)),
                    duree_minutes=None if kind == "note" else rng.choice([15, 30, 60]),
                    auteur_id=rng.choice(staff),
                )
    with acting_as(user_actor(dev)):
        for index in range(18):
            sujet, kind, priority = _TICKETS[index % len(_TICKETS)]
            client = clients[(index * 7) % len(clients)]
            ticket = container.support.open_ticket(
                workspace,
                client,
                sujet=sujet,
                description=f"{sujet}. Merci de regarder.",
                type_ticket=kind,
                priorite=priority,
                source=rng.choice(["staff", "portail", "email"]),
            ).id
            if index % 3:
                container.support.assign(workspace, ticket, dev)
                container.support.reply(
                    workspace,
                    ticket,
                    texte="Bonjour, nous regardons cela et revenons vers vous rapidement.",
                    auteur="Inès Haddad",
                )
                container.support.add_internal_note(
                    workspace, ticket, texte="Vérifier les logs du serveur.", auteur="Inès Haddad"
                )
                container.support.change_status(
                    workspace,
                    ticket,
                    rng.choice(["en_cours", "en_attente_client", "resolu", "ferme"]),
                )
    last = container.log.recorder.max_notification_id() or 0
    container.wait(last, *container.views, timeout=60)
    return DemoLogin(workspace, DEMO_ADMIN_EMAIL, DEMO_PASSWORD, created=True)
