-- Wallet sign-in (SEP-10): the wallet directory and the ledger of redeemed challenges.
--
-- wallet_bindings: which principal (tenant, role, subject) a Stellar account signs in as. The
-- address is the primary key: a wallet is bound to at most one principal in all tenants (the
-- key is checked even against rows that row-level security hides from the unit).
-- verified is false for self-registered wallets until KYC says otherwise.
CREATE TABLE wallet_bindings (
    address    text        NOT NULL PRIMARY KEY,
    tenant_id  text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('sme', 'investor', 'admin')),
    subject    text        NOT NULL,
    verified   boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL
);

CREATE INDEX wallet_bindings_tenant ON wallet_bindings (tenant_id, address COLLATE "C");

-- Row-level security, as in 0001: a row is visible and writable only while app.tenant_id
-- names its tenant; FORCE binds the owner too.
ALTER TABLE wallet_bindings ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_bindings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wallet_bindings
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Sign-in looks a wallet up before any tenant is known. That one read runs in
-- wallet_binding_of(), a SECURITY DEFINER function owned by this migration's login, as the
-- idempotency purge of 0002 does: a second policy lets the owner role, and only while the
-- function has set liquifact.wallet_lookup in its transaction, see the row of that one
-- address. The application role may call the function but gains no other cross-tenant access.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY wallet_lookup ON wallet_bindings FOR SELECT TO %I USING ('
        'address = nullif(current_setting(''liquifact.wallet_lookup'', true), ''''))',
        current_user);
END
$$;

CREATE FUNCTION wallet_binding_of(wanted text)
    RETURNS SETOF wallet_bindings
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('liquifact.wallet_lookup', wanted, true);
    RETURN QUERY SELECT * FROM wallet_bindings WHERE address = wanted;
    PERFORM set_config('liquifact.wallet_lookup', '', true);
END
$$;

REVOKE ALL ON FUNCTION wallet_binding_of(text) FROM PUBLIC;

-- redeemed_challenges: a challenge (by its transaction hash) can be used once; the primary key
-- makes a second redemption fail in any process. Not tenant data (a challenge is redeemed
-- before its tenant is known, and says nothing about one), so no row-level security.
-- Records are purged after expires_at, when the challenge's time bounds refuse it anyway.
CREATE TABLE redeemed_challenges (
    digest     text        NOT NULL PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX redeemed_challenges_expires_at ON redeemed_challenges (expires_at);

-- Least privilege: bindings are inserted and deleted, never changed (the KYC work will grant
-- UPDATE (verified) when it needs it); challenge records are inserted and purged.
DO $$
DECLARE
    app_role text := current_setting('liquifact.app_role');
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON wallet_bindings TO %I', app_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION wallet_binding_of(text) TO %I', app_role);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON redeemed_challenges TO %I', app_role);
END
$$;
