from __future__ import annotations

from pydantic import BaseModel, Field


class SessionIn(BaseModel):
    token: str = Field(min_length=1, max_length=4096, description="the API token (LOB_API_TOKEN)")


class SessionOut(BaseModel):
    signed_in: bool
    # False when the server has no token configured: nobody can sign in or change anything.
    token_configured: bool = True
