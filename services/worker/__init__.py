"""Celery worker for training jobs: `celery -A services.worker.app worker -Q training`."""
