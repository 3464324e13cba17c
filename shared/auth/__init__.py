"""Who may do what: organisations, their roles and scopes, and their bearer tokens."""
