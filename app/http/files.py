"""Scored CSV files streamed back as downloads, for the API and the pages alike."""

from __future__ import annotations

from flask import Response, current_app

from app.core.scoring import ScoredFile


def download(scored: ScoredFile, filename: str) -> Response:
    """Stream a scored file back as a CSV attachment; the spool is closed once it is sent."""
    response = current_app.response_class(
        scored.blocks(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(scored.size),
            "X-Rows-Scored": str(scored.rows),
        },
    )
    response.call_on_close(scored.file.close)
    return response
