"""The staff area, one module per concern, all on the one "staff" blueprint (`bp`):

- accounts: logging in and out, one's own password and two-factor;
- campaigns: campaigns and their banner variants, their version history and its restores;
- donors: donors, and what staff do at a donor's request (corrections, cancellations,
  statements, erasure, answers to their comments);
- exports: one donor's data as JSON, and donors, gifts and payments of a period as CSV;
- team: staff accounts and the audit log.

Each view declares who may use it with @requires or @public (see banner.views).
"""

from banner.views.staff import accounts, campaigns, donors, exports, team
from banner.views.staff.common import bp

__all__ = ["accounts", "bp", "campaigns", "donors", "exports", "team"]
