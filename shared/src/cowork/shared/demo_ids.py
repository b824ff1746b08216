"""Ids of the demo data that more than one service must agree on (`make run`).

Services share no database, so the demo space booking creates and the vouchers service
accredits must have an id both know in advance: a fixed uuid5, defined once here.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

DEMO_SPACE_ID = uuid5(NAMESPACE_URL, "https://cowork.example/demo/spaces/biblioteca-civica")
