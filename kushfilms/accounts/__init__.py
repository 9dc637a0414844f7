"""Users, sign-in, tokens and roles."""
