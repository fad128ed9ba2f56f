"""State / province names to the postal codes PeopleSoft keeps in STATE (6 characters).

Storefronts send the name ("Texas", "Ontario"); PeopleSoft's STATE table is keyed by the
postal abbreviation. Only the US and Canada are tabulated; elsewhere a short value passes
through and a long one is rejected with the field named.
"""

from __future__ import annotations

_US = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR", "guam": "GU",
}  # fmt: skip
_CA = {
    "alberta": "AB", "british columbia": "BC", "manitoba": "MB", "new brunswick": "NB",
    "newfoundland and labrador": "NL", "nova scotia": "NS", "ontario": "ON", "prince edward island": "PE",
    "quebec": "QC", "québec": "QC", "saskatchewan": "SK", "northwest territories": "NT", "nunavut": "NU",
    "yukon": "YT",
}  # fmt: skip
_BY_COUNTRY = {"US": _US, "USA": _US, "CA": _CA, "CAN": _CA}


def state_code(state: str, country: str) -> str:
    """The postal code for a US / Canadian state name; anything else unchanged."""
    table = _BY_COUNTRY.get(country.strip().upper())
    if not table:
        return state
    return table.get(state.strip().lower(), state)
