-- Read models: plain, indexed tables written only by their projection, in the same
-- transaction as the projection's tracking row. Documented in README.md.

CREATE TABLE IF NOT EXISTS rm_workspaces (
    id              uuid PRIMARY KEY,
    nom             text NOT NULL,
    raison_sociale  text NOT NULL DEFAULT '',
    siret           text NOT NULL DEFAULT '',
    numero_tva      text NOT NULL DEFAULT '',
    devise          text NOT NULL DEFAULT 'EUR',
    logo_url        text NOT NULL DEFAULT '',
    domaine_mail    text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_users (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    email         text NOT NULL,
    nom           text NOT NULL,
    role          text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_users_workspace ON rm_users (workspace_id, nom);

CREATE TABLE IF NOT EXISTS rm_clients (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    nom           text NOT NULL,
    type_client   text NOT NULL,
    email         text NOT NULL DEFAULT '',
    telephone     text NOT NULL DEFAULT '',
    adresse       jsonb NOT NULL DEFAULT '{}',
    ville         text NOT NULL DEFAULT '',
    tags          text[] NOT NULL DEFAULT '{}',
    owner_id      uuid,
    notes         text NOT NULL DEFAULT '',
    archived      boolean NOT NULL DEFAULT false,
    contacts      jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- Lower-cased name and email, with the accents kept, for search and sort.
    search_text   text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS rm_clients_list ON rm_clients (workspace_id, archived, lower(nom), id);
CREATE INDEX IF NOT EXISTS rm_clients_owner ON rm_clients (workspace_id, owner_id);
CREATE INDEX IF NOT EXISTS rm_clients_tags ON rm_clients USING gin (tags);

CREATE TABLE IF NOT EXISTS rm_opportunities (
    id                   uuid PRIMARY KEY,
    workspace_id         uuid NOT NULL,
    client_id            uuid NOT NULL,
    titre                text NOT NULL,
    montant_estime       numeric(14, 2),
    devise               text NOT NULL DEFAULT 'EUR',
    etape                text NOT NULL,
    date_cloture_prevue  date,
    probabilite          integer,
    owner_id             uuid,
    raison_perte         text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    won_at               timestamptz,
    lost_at              timestamptz
);
CREATE INDEX IF NOT EXISTS rm_opportunities_board
    ON rm_opportunities (workspace_id, etape, updated_at DESC, id);
CREATE INDEX IF NOT EXISTS rm_opportunities_client ON rm_opportunities (client_id);

CREATE TABLE IF NOT EXISTS rm_tickets (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL,
    client_id        uuid NOT NULL,
    sujet            text NOT NULL,
    description      text NOT NULL,
    type_ticket      text NOT NULL,
    priorite         text NOT NULL,
    source           text NOT NULL,
    statut           text NOT NULL,
    assignee_id      uuid,
    ouvert_par       text NOT NULL DEFAULT '',
    message_count    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    resolved_at      timestamptz
);
CREATE INDEX IF NOT EXISTS rm_tickets_list ON rm_tickets (workspace_id, statut, updated_at DESC, id);
CREATE INDEX IF NOT EXISTS rm_tickets_client ON rm_tickets (client_id, updated_at DESC);
CREATE INDEX IF NOT EXISTS rm_tickets_assignee ON rm_tickets (workspace_id, assignee_id);

CREATE TABLE IF NOT EXISTS rm_ticket_messages (
    id            uuid PRIMARY KEY,
    ticket_id     uuid NOT NULL,
    workspace_id  uuid NOT NULL,
    texte         text NOT NULL,
    interne       boolean NOT NULL,
    auteur        text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_ticket_messages_ticket ON rm_ticket_messages (ticket_id, created_at);

CREATE TABLE IF NOT EXISTS rm_timeline (
    id                 text PRIMARY KEY,  -- "<aggregate id>:<version>" of the event shown
    workspace_id       uuid NOT NULL,
    client_id          uuid NOT NULL,
    type_evenement     text NOT NULL,
    reference_id       uuid,
    description_texte  text NOT NULL,
    date_evenement     timestamptz NOT NULL,
    auteur             text NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_timeline_client ON rm_timeline (client_id, date_evenement DESC, id);

-- What the timeline needs to know about a record to describe its later events.
CREATE TABLE IF NOT EXISTS rm_timeline_subjects (
    id         uuid PRIMARY KEY,
    client_id  uuid NOT NULL,
    titre      text NOT NULL
);
