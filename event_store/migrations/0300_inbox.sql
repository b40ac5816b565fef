-- The inbox (issue 6): emails per client, the « À trier » list, quarantine, rules.
-- Written only by the `inbox` projection. Documented in README.md.

CREATE TABLE IF NOT EXISTS rm_emails (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL,
    client_id           uuid,            -- NULL: « À trier » (or quarantine)
    origine             text NOT NULL,   -- manuel | recu | envoi | quarantaine
    sens                text NOT NULL,   -- entrant | sortant
    message_id          text NOT NULL DEFAULT '',
    thread_id           uuid,
    expediteur          text NOT NULL DEFAULT '',
    destinataires       text[] NOT NULL DEFAULT '{}',
    cc                  text[] NOT NULL DEFAULT '{}',
    sujet               text NOT NULL DEFAULT '',
    extrait             text NOT NULL DEFAULT '',
    texte               text NOT NULL DEFAULT '',
    html                text NOT NULL DEFAULT '',   -- sanitised (nh3) at reception
    date_message        timestamptz NOT NULL,
    auteur              text NOT NULL DEFAULT '',
    rattachement        text NOT NULL DEFAULT '',   -- adresse_inbox | expediteur | fil | manuel
    automatique         boolean NOT NULL DEFAULT false,
    pieces_jointes      jsonb NOT NULL DEFAULT '[]',
    ticket_id           uuid,
    action_ticket       text NOT NULL DEFAULT '',   -- ouvert | reponse
    etat_envoi          text NOT NULL DEFAULT '',   -- en_attente | envoye | nouvel_essai | echec
    tentatives          integer NOT NULL DEFAULT 0,
    derniere_erreur     text NOT NULL DEFAULT '',
    quarantaine_raison  text NOT NULL DEFAULT '',
    quarantaine_sha256  text NOT NULL DEFAULT '',
    taille              integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_emails_client ON rm_emails (client_id, date_message DESC, id);
CREATE INDEX IF NOT EXISTS rm_emails_unsorted ON rm_emails (workspace_id, date_message DESC, id)
    WHERE client_id IS NULL AND origine <> 'quarantaine';
CREATE INDEX IF NOT EXISTS rm_emails_quarantine ON rm_emails (workspace_id, created_at DESC)
    WHERE origine = 'quarantaine';
CREATE INDEX IF NOT EXISTS rm_emails_thread ON rm_emails (thread_id, date_message);

CREATE TABLE IF NOT EXISTS rm_inbox_rules (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    critere       text NOT NULL,   -- destinataire | sujet
    motif         text NOT NULL,
    type_ticket   text NOT NULL,
    priorite      text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_inbox_rules_workspace ON rm_inbox_rules (workspace_id, created_at);

-- Lookups of the mail receiver: a recipient's domain, a sender's address.
CREATE INDEX IF NOT EXISTS rm_workspaces_domaine_mail ON rm_workspaces (domaine_mail);
CREATE INDEX IF NOT EXISTS rm_clients_email ON rm_clients (workspace_id, email);
CREATE INDEX IF NOT EXISTS rm_clients_contacts ON rm_clients USING gin (contacts jsonb_path_ops);

-- Timeline: structured details of an entry (for emails: direction, delivery state).
ALTER TABLE rm_timeline ADD COLUMN IF NOT EXISTS meta jsonb NOT NULL DEFAULT '{}';

-- Timeline: what an unsorted email says, until it is attached to a client.
CREATE TABLE IF NOT EXISTS rm_timeline_emails (
    id            uuid PRIMARY KEY,
    sens          text NOT NULL,
    expediteur    text NOT NULL,
    sujet         text NOT NULL,
    date_message  timestamptz NOT NULL
);
