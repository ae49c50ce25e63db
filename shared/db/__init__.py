"""PostgreSQL: typed models (models.py), engines and sessions (session.py), migrations (migrate.py)."""
