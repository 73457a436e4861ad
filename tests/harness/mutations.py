"""The mutation catalogue (ci/mutate/catalogue.yaml): small bugs a contributor could introduce in the
charts, each one exact text to find in one file and what to put instead. `make mutate` (ci/mutate/run.py)
applies them one at a time to a throwaway copy of the repository and runs the offline tiers; a mutation
that no test catches is a survivor. A survivor that does not matter says why in `accepted_survivor`.

Shape of an entry: {id, file (relative to the repository root), find, replace, why, accepted_survivor?}.
`find` must occur exactly once in `file`: otherwise the mutation is stale (the template moved on), and the
catalogue test in `make test` fails, so the catalogue cannot rot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness.render import REPO_ROOT

CATALOGUE = REPO_ROOT / "ci" / "mutate" / "catalogue.yaml"
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FIELDS = {"id", "file", "find", "replace", "why", "accepted_survivor"}


class CatalogueError(Exception):
    """The catalogue file is malformed: a missing or unknown field, a duplicate id, a no-op replacement."""


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    find: str
    replace: str
    why: str
    accepted_survivor: str | None = None

    def occurrences(self, root: Path = REPO_ROOT) -> int:
        """How often `find` occurs in the file under `root` (0 when the file is gone)."""
        path = root / self.file
        return path.read_text().count(self.find) if path.is_file() else 0

    def staleness(self, root: Path = REPO_ROOT) -> str | None:
        """Why the mutation no longer applies under `root` (its text gone, or there more than once); None when it does."""
        count = self.occurrences(root)
        return None if count == 1 else f"{self.file} holds the text to find {count} times (must be 1)"

    def apply(self, root: Path) -> None:
        """Rewrites the file under `root` (a copy, never the checkout). Raises CatalogueError when stale."""
        if Path(root).resolve() == REPO_ROOT.resolve():
            raise CatalogueError(f"{self.id}: refusing to mutate the checkout itself; apply it to a copy")
        stale = self.staleness(root)
        if stale:
            raise CatalogueError(f"{self.id}: stale, {stale}")
        path = root / self.file
        path.write_text(path.read_text().replace(self.find, self.replace, 1))


def load(path: Path = CATALOGUE) -> list[Mutation]:
    """Every mutation of the catalogue, in order. Raises CatalogueError on a malformed entry."""
    entries = (yaml.safe_load(path.read_text()) or {}).get("mutations") or []
    mutations, seen = [], set()
    for index, entry in enumerate(entries):
        where = f"{path.name} entry {index} ({entry.get('id', '?')})"
        missing = {"id", "file", "find", "replace", "why"} - set(entry)
        unknown = set(entry) - _FIELDS
        if missing or unknown:
            raise CatalogueError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        if not _ID.match(entry["id"]) or entry["id"] in seen:
            raise CatalogueError(f"{where}: ids are unique lower-case-with-dashes")
        if not (isinstance(entry["find"], str) and isinstance(entry["replace"], str)) or not entry["find"]:
            # YAML reads an empty value as None and 0x2E as a number: str() would insert "None" or "46".
            raise CatalogueError(f"{where}: find and replace are quoted text (find not empty; replace '' deletes)")
        if entry["find"] == entry["replace"]:
            raise CatalogueError(f"{where}: the replacement changes nothing")
        for reason_field in ("why", "accepted_survivor"):
            if reason_field in entry and len(str(entry[reason_field]).split()) < 5:
                raise CatalogueError(f"{where}: {reason_field} must say why in a sentence")
        seen.add(entry["id"])
        mutations.append(Mutation(**{key: str(value) for key, value in entry.items()}))
    return mutations
