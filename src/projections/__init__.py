"""Read models: events -> PostgreSQL tables, and the query functions of the read side."""
