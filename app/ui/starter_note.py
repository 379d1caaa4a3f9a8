"""What the bundled starter model is for, in one plain sentence, and what to get instead.

Said on the welcome and on the Classify page while the starter is chosen: a newcomer who
tries "a joyless, plodding mess" and is told "positive" should know that is the 135M
model's limit, not Driftless's, and which catalog model to download for real work.
"""

from __future__ import annotations

from app.core.models.catalog import CatalogError, recommended
from app.core.units import human_size


def starter_note() -> str:
    """The starter is for trying Driftless out; the catalog's recommended model, with its
    size, is for real work."""
    what = (
        "The starter model is for trying Driftless out: with 135 million parameters it is "
        "fast, but it will get sentiment wrong sometimes and knows few facts."
    )
    try:
        pick = recommended()
    except CatalogError:
        pick = None
    if pick is None:
        return f"{what} For real work, download a bigger model in Models > Catalog."
    size = ("about " if pick.size_approximate else "") + human_size(pick.size)
    return f"{what} For real work, get {pick.name} ({size}) in Models > Catalog."
