"""Pure business rules: no database, web or template imports here."""
