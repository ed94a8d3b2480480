-- Wallet sign-in (SEP-10): the wallet directory and the ledger of redeemed challenges.
--
-- wallet_bindings: which principal (tenant, role, subject) a Stellar account signs in as. The
-- address is the primary key: a wallet is bound to at most one principal in all tenants.
-- verified is 0 for self-registered wallets until KYC says otherwise.
CREATE TABLE wallet_bindings (
    address    TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('sme', 'investor', 'admin')),
    subject    TEXT    NOT NULL,
    verified   INTEGER NOT NULL CHECK (verified IN (0, 1)),
    created_at TEXT    NOT NULL,
    created_by TEXT    NOT NULL
);

CREATE INDEX wallet_bindings_tenant ON wallet_bindings (tenant_id, address);

-- redeemed_challenges: a challenge (by its transaction hash) can be used once; the primary key
-- makes a second redemption fail in any process. Records are purged after expires_at, when
-- the challenge's time bounds refuse it anyway.
CREATE TABLE redeemed_challenges (
    digest     TEXT NOT NULL PRIMARY KEY,
    expires_at TEXT NOT NULL
);

CREATE INDEX redeemed_challenges_expires_at ON redeemed_challenges (expires_at);
