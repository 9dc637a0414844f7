"""Small shared tools: clock, pagination, slugs, signing, text."""
