-- The OAuth tables of gpt-service, as the service already uses them.
--
-- Never edit this file once it has been applied anywhere: sqlx records its
-- checksum and refuses to run against a database migrated with another text.
-- Add a new, later migration instead.

-- One row per issued authorization code. The service stores a hash, never the
-- code itself. `cleanup` deletes rows whose `expires_at` is past the retention
-- cutoff, whether or not they were used.
create table gpt_authorization_codes (
    code_hash     text        primary key,
    clerk_user_id text        not null,
    client_id     text        not null,
    redirect_uri  text        not null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    used_at       timestamptz
);

-- One row per refresh token (hashed). `cleanup` deletes rows revoked or
-- expired before the retention cutoff.
create table gpt_refresh_tokens (
    id            uuid        primary key default gen_random_uuid(),
    token_hash    text        not null unique,
    clerk_user_id text        not null,
    client_id     text        not null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    revoked_at    timestamptz
);

-- One row per signed-in session. `cleanup` deletes rows whose `expires_at` is
-- past the retention cutoff.
create table gpt_sessions (
    id            uuid        primary key default gen_random_uuid(),
    clerk_user_id text        not null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null
);

-- The audit trail. `cleanup` never touches it: rows are kept forever.
--
-- `svix_message_id` is set for events recorded by the Clerk webhook receiver
-- (the `svix-id` header of the delivery) and null for every other event. Its
-- unique constraint makes a redelivered webhook a no-op: the receiver inserts
-- with `on conflict (svix_message_id) do nothing`, so each svix message is
-- recorded exactly once, in the same statement that records it. Nulls never
-- conflict with each other, so events without a message id are unaffected.
create table gpt_oauth_events (
    id              bigserial   primary key,
    event_type      text        not null,
    clerk_user_id   text,
    details         jsonb       not null default '{}',
    created_at      timestamptz not null default now(),
    svix_message_id text        unique
);

-- Batched retention deletes walk these indexes in order, so every batch is an
-- index scan of `batch-size` entries instead of a scan of the table, and its
-- cost does not grow as the table is worked down.
create index gpt_authorization_codes_expires_at_idx on gpt_authorization_codes (expires_at);
create index gpt_refresh_tokens_expires_at_idx on gpt_refresh_tokens (expires_at);
create index gpt_sessions_expires_at_idx on gpt_sessions (expires_at);

-- Most refresh tokens are never revoked: a partial index holds only the
-- revoked ones, which keeps it small and keeps the revoked rule an index scan.
create index gpt_refresh_tokens_revoked_at_idx on gpt_refresh_tokens (revoked_at)
    where revoked_at is not null;

-- A `user.deleted` webhook removes everything a user owns; these indexes keep
-- those per-user deletes (and per-user audit queries) from scanning tables.
create index gpt_authorization_codes_clerk_user_id_idx on gpt_authorization_codes (clerk_user_id);
create index gpt_refresh_tokens_clerk_user_id_idx on gpt_refresh_tokens (clerk_user_id);
create index gpt_sessions_clerk_user_id_idx on gpt_sessions (clerk_user_id);
create index gpt_oauth_events_clerk_user_id_idx on gpt_oauth_events (clerk_user_id);
