"""The live predictor: `python -m services.inference` (see __main__.py)."""
