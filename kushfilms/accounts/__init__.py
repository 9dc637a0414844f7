"""Users, sign-in, tokens, roles and devices."""
