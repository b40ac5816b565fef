"""Staff authentication: sessions, CSRF, login throttling, roles and permissions."""
