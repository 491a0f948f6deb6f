-- The figures of the customer base's charts (Pareto curve, lifecycle
-- funnel, tiers, retention cohorts), computed once by each full
-- computation of traits and kept with its model. Read live, they took
-- 4.5 to 9 s at a million profiles (cohorts join every order with every
-- membership; the others scan the whole of profile_traits, mostly its
-- JSON), on every load of the console's charts. Insert-only for the
-- service, like the models.
CREATE TABLE chart_figures (
    model_id     uuid        PRIMARY KEY,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    figures      jsonb       NOT NULL
);
REVOKE ALL ON chart_figures FROM cdp_app;
GRANT SELECT, INSERT ON chart_figures TO cdp_app;
