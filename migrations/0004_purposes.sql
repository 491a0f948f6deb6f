-- The purpose catalogue (package consent) and the legal basis under which
-- each source collected its records. The policy reads both for every
-- decision.

CREATE TABLE purposes (
    id                text        PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]{1,62}$' AND id <> 'self_service'),
    description       text        NOT NULL CHECK (octet_length(description) BETWEEN 1 AND 2000),
    legal_basis       text        NOT NULL CHECK (legal_basis IN ('consent', 'contract', 'legal_obligation',
                                      'vital_interests', 'public_task', 'legitimate_interests')),
    requires_consent  boolean     NOT NULL,
    allows_objection  boolean     NOT NULL,
    default_state     text        NOT NULL CHECK (default_state IN ('granted', 'denied')),
    retention_days    integer     NOT NULL CHECK (retention_days BETWEEN 1 AND 36600),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (requires_consent = (legal_basis = 'consent')),
    CHECK (NOT (requires_consent AND allows_objection)),
    CHECK (default_state = CASE WHEN requires_consent THEN 'denied' ELSE 'granted' END)
);

INSERT INTO purposes (id, legal_basis, requires_consent, allows_objection, default_state, retention_days, description) VALUES
    ('support', 'contract', false, false, 'granted', 1095,
     'Answering the customer''s questions and complaints about the products and services they use.'),
    ('billing', 'contract', false, false, 'granted', 3650,
     'Invoicing, payment and the bookkeeping that tax law requires.'),
    ('marketing', 'consent', true, false, 'denied', 730,
     'Newsletters and offers by email, sent only with the customer''s consent.'),
    ('analytics', 'legitimate_interests', false, true, 'granted', 365,
     'Aggregate statistics about customers (age bands, regions) to improve products; the customer may object.'),
    ('fraud_prevention', 'legitimate_interests', false, false, 'granted', 1825,
     'Detecting and preventing fraud and abuse (Recital 47).'),
    ('legal_claims', 'legitimate_interests', false, false, 'granted', 2190,
     'Establishing, exercising or defending legal claims (Art. 17(3)(e), 18(2)).'),
    ('data_quality', 'legitimate_interests', false, false, 'granted', 1095,
     'Keeping personal data accurate (Art. 5(1)(d)): data stewards checking and correcting identity links.'),
    ('compliance', 'legal_obligation', false, false, 'granted', 2190,
     'Demonstrating compliance and answering data-subject requests and supervisory authorities (Art. 5(2), 12-22, 33).');

-- Under which legal basis a source collected its records, and for which
-- purposes ('{}': any purpose its basis supports).
ALTER TABLE sources
    ADD COLUMN legal_basis text NOT NULL DEFAULT 'contract' CHECK (legal_basis IN ('consent', 'contract',
        'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interests')),
    ADD COLUMN purposes text[] NOT NULL DEFAULT '{}';

GRANT SELECT, INSERT, UPDATE, DELETE ON purposes TO cdp_app;
