"""French labels of fields and events, for histories and the audit journal."""

from __future__ import annotations

FIELD_LABELS: dict[str, str] = {
    "workspace_id": "Espace",
    "nom": "Nom",
    "email": "Email",
    "telephone": "Téléphone",
    "adresse": "Adresse",
    "type_client": "Type de client",
    "tags": "Étiquettes",
    "owner_id": "Responsable",
    "notes": "Notes",
    "archived": "Archivé",
    "erased": "Effacé (RGPD)",
    "contacts": "Contacts",
    "contact": "Contact",
    "contact_id": "Contact",
    "client_id": "Client",
    "titre": "Titre",
    "montant_estime": "Montant estimé",
    "montant": "Montant",
    "devise": "Devise",
    "date_cloture_prevue": "Date de clôture prévue",
    "probabilite": "Probabilité",
    "etape": "Étape",
    "de": "De",
    "vers": "Vers",
    "raison": "Raison",
    "raison_perte": "Raison de la perte",
    "sujet": "Sujet",
    "description": "Description",
    "contenu": "Contenu",
    "kind": "Type",
    "date_activite": "Date de l’activité",
    "duree_minutes": "Durée (minutes)",
    "auteur_id": "Auteur",
    "auteur": "Auteur",
    "texte": "Message",
    "message_id": "Message",
    "type_ticket": "Type de ticket",
    "priorite": "Priorité",
    "source": "Source",
    "ouvert_par": "Ouvert par",
    "statut": "Statut",
    "assignee_id": "Assigné à",
    "message_count": "Nombre de messages",
    "role": "Rôle",
    "disabled": "Désactivé",
    "password_hash": "Mot de passe",
    "raison_sociale": "Raison sociale",
    "siret": "SIRET",
    "numero_tva": "Numéro de TVA",
    "logo_url": "Logo",
    "domaine_mail": "Domaine mail",
    "cible": "Cible",
    "details": "Détails",
}

#: Never shown, even as "changed": secrets and the envelope.
HIDDEN_FIELDS = frozenset(
    {"password_hash", "originator_id", "originator_version", "originator_topic", "timestamp"}
)

EVENT_LABELS: dict[str, str] = {
    "Workspace.Created": "Espace créé",
    "Workspace.ProfileUpdated": "Profil de l’espace modifié",
    "StaffUser.Registered": "Compte créé",
    "StaffUser.RoleChanged": "Rôle changé",
    "StaffUser.Renamed": "Compte renommé",
    "StaffUser.PasswordChanged": "Mot de passe changé",
    "StaffUser.Disabled": "Compte désactivé",
    "StaffUser.Enabled": "Compte réactivé",
    "Client.Registered": "Client créé",
    "Client.Updated": "Client modifié",
    "Client.Archived": "Client archivé",
    "Client.Restored": "Client restauré",
    "Client.ContactAdded": "Contact ajouté",
    "Client.ContactUpdated": "Contact modifié",
    "Client.ContactRemoved": "Contact retiré",
    "Client.Erased": "Données personnelles effacées (RGPD)",
    "Opportunity.Opened": "Opportunité ouverte",
    "Opportunity.Revised": "Opportunité modifiée",
    "Opportunity.StageChanged": "Étape changée",
    "Opportunity.Won": "Opportunité gagnée",
    "Opportunity.Lost": "Opportunité perdue",
    "Opportunity.Reopened": "Opportunité rouverte",
    "Activity.Logged": "Activité enregistrée",
    "Ticket.Opened": "Ticket ouvert",
    "Ticket.Replied": "Réponse au ticket",
    "Ticket.NoteAdded": "Note interne ajoutée",
    "Ticket.Assigned": "Ticket assigné",
    "Ticket.StatusChanged": "Statut du ticket changé",
    "AdminAction.Performed": "Action d’administration",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def event_label(topic_or_name: str) -> str:
    """The label of `module:Aggregate.Event` or `Aggregate.Event`."""
    name = topic_or_name.rpartition(":")[2]
    return EVENT_LABELS.get(name, name)
