-- Security review fixes (issue 10).

-- A source whose records anyone could type (customers' own sign-ups)
-- joins profiles only through an identifier shared exactly or a steward's
-- decision; its probabilistic matches go to review.
ALTER TABLE sources ADD COLUMN link_by_identifier_only boolean NOT NULL DEFAULT false;
UPDATE sources SET link_by_identifier_only = true WHERE name = 'self_service';
