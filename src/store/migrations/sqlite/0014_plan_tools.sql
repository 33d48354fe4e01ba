-- The Terraform or OpenTofu a plan ran when its project asked for a version or a distribution
-- (`terraform` or `opentofu`, and the exact version), so its apply runs the same one. NULL: the
-- plan ran the server's binary because nothing was asked, or it was made before this column.
ALTER TABLE plans ADD COLUMN tool_distribution TEXT;
ALTER TABLE plans ADD COLUMN tool_version TEXT;
ALTER TABLE reviewed_plans ADD COLUMN tool_distribution TEXT;
ALTER TABLE reviewed_plans ADD COLUMN tool_version TEXT;
