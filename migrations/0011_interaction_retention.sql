-- How long interactions are kept: per source and type when the DPO says
-- so, else the source's retention (its own, or the longest of its
-- purposes'). The retention sweep deletes what is older, unless a legal
-- hold on the source or an open request still needs it.
CREATE TABLE interaction_retention (
    source          text     NOT NULL REFERENCES sources (name),
    type            text     NOT NULL CHECK (type ~ '^[a-z][a-z0-9_-]{0,62}$'),
    retention_days  integer  NOT NULL CHECK (retention_days BETWEEN 1 AND 36600),
    PRIMARY KEY (source, type)
);
