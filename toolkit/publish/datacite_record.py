"""metadata/datacite.xml: the citation record a repository reads beside the bag's payload.

The record is a DataCite 4.5 JSON document built from the recipe (who made it, who publishes it, who
to contact) and from the snapshot itself (title and abstract from its card, licence, dates, sizes,
languages), checked with the `datacite` package's validator (DataCite's own JSON Schema) and turned
into XML by that package: no string templates. Its distribution ships no XSD, so the XML itself is
not schema-validated here (see docs/publish.md, "Deposit").

Two deliberate gaps, both allowed by DANS's BagPack: no `identifier` (the repository mints the DOI on
deposit), and the covered period is a date of type `Other` whose information says "Coverage" (the
`Coverage` date type arrived with DataCite 4.6, which the package does not know yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from toolkit.core.errors import NewsarchiveError

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
HUB_PREFIX = "https://huggingface.co/datasets/"

#: SPDX identifier, name and legal text for the licences a news dataset is likely to carry; the Hub
#: and the recipe spell them in lower case.
LICENSES = {
    "cc-by-4.0": ("CC-BY-4.0", "Creative Commons Attribution 4.0 International",
                  "https://creativecommons.org/licenses/by/4.0/legalcode"),
    "cc-by-sa-4.0": ("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International",
                     "https://creativecommons.org/licenses/by-sa/4.0/legalcode"),
    "cc-by-nc-4.0": ("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0 International",
                     "https://creativecommons.org/licenses/by-nc/4.0/legalcode"),
    "cc-by-nc-sa-4.0": ("CC-BY-NC-SA-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0 "
                        "International", "https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode"),
    "cc0-1.0": ("CC0-1.0", "Creative Commons Zero v1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/legalcode"),
    "odc-by": ("ODC-By-1.0", "Open Data Commons Attribution License v1.0",
               "https://opendatacommons.org/licenses/by/1-0/"),
    "odc-by-1.0": ("ODC-By-1.0", "Open Data Commons Attribution License v1.0",
                   "https://opendatacommons.org/licenses/by/1-0/"),
    "pddl": ("PDDL-1.0", "Open Data Commons Public Domain Dedication & License 1.0",
             "https://opendatacommons.org/licenses/pddl/1-0/"),
}

#: Media types of the files a snapshot holds, by extension (SHA256SUMS has none: plain text).
MEDIA_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/ld+json",
               ".md": "text/markdown", ".png": "image/png", "": "text/plain"}


@dataclass(frozen=True)
class Person:
    """A creator or the contact, as the recipe gives them."""

    name: str
    kind: str = "Personal"  # DataCite nameType: Personal or Organizational
    given_name: str | None = None
    family_name: str | None = None
    orcid: str | None = None
    affiliation: str | None = None

    def as_datacite(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "nameType": self.kind}
        if self.given_name:
            entry["givenName"] = self.given_name
        if self.family_name:
            entry["familyName"] = self.family_name
        if self.orcid:
            entry["nameIdentifiers"] = [{"nameIdentifier": f"https://orcid.org/{self.orcid}",
                                         "nameIdentifierScheme": "ORCID", "schemeUri": "https://orcid.org"}]
        if self.affiliation:
            entry["affiliation"] = [{"name": self.affiliation}]
        return entry


def orcid_ok(orcid: str) -> bool:
    """An ORCID iD (0000-0002-1825-0097) with a correct ISO 7064 11,2 check digit: a typo is caught
    before it is archived for decades under someone else's name."""
    if not re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", orcid):
        return False
    digits = orcid.replace("-", "")
    total = 0
    for char in digits[:-1]:
        total = (total + int(char)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


@dataclass(frozen=True)
class RecordInputs:
    """Everything the record says, gathered by the deposit step."""

    title: str
    abstract: str
    creators: tuple[Person, ...]
    contact: Person
    publisher: str
    tag: str
    name: str
    license: str
    license_note: str | None
    subjects: tuple[str, ...]
    created: str | None  # YYYY-MM-DD: the snapshot's publication date
    publication_year: str
    first_date: str | None
    last_date: str | None
    language: str | None  # the most frequent language of the articles
    languages: tuple[tuple[str, int], ...]
    formats: tuple[str, ...]
    rows: int
    payload_bytes: int
    payload_files: int
    repo_id: str | None
    technical_info: str


def build_record(inputs: RecordInputs) -> dict[str, Any]:
    """The DataCite 4.5 JSON document (DataCite's REST API shape, which the `datacite` package reads)."""
    rights: list[dict[str, Any]] = []
    known = LICENSES.get(inputs.license.lower())
    if known:
        spdx, label, uri = known
        rights.append({"rights": label, "rightsUri": uri, "rightsIdentifier": spdx,
                       "rightsIdentifierScheme": "SPDX", "schemeUri": "https://spdx.org/licenses/"})
    else:
        rights.append({"rights": inputs.license})
    if inputs.license_note:
        rights.append({"rights": inputs.license_note})
    dates: list[dict[str, Any]] = []
    if inputs.created:
        dates.append({"date": inputs.created, "dateType": "Created"})
    if inputs.first_date and inputs.last_date:
        dates.append({"date": f"{inputs.first_date}/{inputs.last_date}", "dateType": "Other",
                      "dateInformation": "Coverage: publication dates of the articles (earliest to latest "
                                         "published_date)"})
    record: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "News articles"},
        "titles": [{"title": inputs.title}],
        "creators": [c.as_datacite() for c in inputs.creators],
        "contributors": [{**inputs.contact.as_datacite(), "contributorType": "ContactPerson"}],
        "publisher": {"name": inputs.publisher},
        "publicationYear": inputs.publication_year,
        "version": inputs.tag,
        "alternateIdentifiers": [{"alternateIdentifier": f"{inputs.name} {inputs.tag}",
                                  "alternateIdentifierType": "newsarchive dataset and version"}],
        "rightsList": rights,
        "subjects": [{"subject": s} for s in inputs.subjects],
        "descriptions": [{"description": inputs.abstract, "descriptionType": "Abstract"},
                         {"description": inputs.technical_info, "descriptionType": "TechnicalInfo"}],
        "dates": dates,
        "formats": list(inputs.formats),
        "sizes": [f"{inputs.rows} articles", f"{inputs.payload_files} files", f"{inputs.payload_bytes} bytes"],
    }
    if inputs.language:
        record["language"] = inputs.language
    if inputs.repo_id:
        record["relatedIdentifiers"] = [{
            "relatedIdentifier": f"{HUB_PREFIX}{inputs.repo_id}/tree/{inputs.tag}",
            "relatedIdentifierType": "URL", "relationType": "IsIdenticalTo", "resourceTypeGeneral": "Dataset"}]
    return {key: value for key, value in record.items() if value not in (None, [], "")}


def record_problems(record: dict[str, Any]) -> list[str]:
    """What DataCite's JSON Schema (as the `datacite` package ships it) finds wrong, one line each."""
    from datacite import schema45

    if schema45.validate(record):
        return []
    errors = sorted(schema45.validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}" for e in errors]


def record_xml(record: dict[str, Any]) -> bytes:
    """The record as DataCite XML, validated first; a record that fails is a one-line error."""
    from datacite import schema45

    problems = record_problems(record)
    if problems:
        raise NewsarchiveError(f"metadata/datacite.xml: the DataCite record is not valid ({problems[0]}"
                               f"{f'; and {len(problems) - 1} more' if len(problems) > 1 else ''}); "
                               "fix the recipe's deposit fields")
    return schema45.tostring(record).encode("utf-8")
