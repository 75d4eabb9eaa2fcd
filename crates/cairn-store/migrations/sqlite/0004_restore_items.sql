-- Restores of single items (extension): Jira issue keys or Confluence page and blog post ids,
-- comma-separated, as project_keys and space_keys are.
ALTER TABLE restores ADD COLUMN item_keys TEXT;
