"""The JSON API of the staff (session + CSRF), one controller per area."""
