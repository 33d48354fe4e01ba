-- The Terraform or OpenTofu a plan ran when its project asked for a version or a distribution
-- (`terraform` or `opentofu`, the exact version, and for a downloaded binary its SHA-256 in hex),
-- so its apply runs the same one. NULL: the plan ran the server's binary because nothing was
-- asked, or it was made before these columns (the digest is NULL for the server's binary too).
ALTER TABLE plans ADD COLUMN tool_distribution TEXT;
ALTER TABLE plans ADD COLUMN tool_version TEXT;
ALTER TABLE plans ADD COLUMN tool_sha256 TEXT;
ALTER TABLE reviewed_plans ADD COLUMN tool_distribution TEXT;
ALTER TABLE reviewed_plans ADD COLUMN tool_version TEXT;
ALTER TABLE reviewed_plans ADD COLUMN tool_sha256 TEXT;
