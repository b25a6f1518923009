"""The actions and subjects of the provenance chain's events (the provenance_events table).

Written by gapfill.provenance and the modules that record events, read by the catalog's own
queries (the report's review turnaround): names only, so both sides share one spelling.
"""

# The action and subject under which the repair that wrote a clip is recorded in the chain.
REPAIR_ACTION = "repair"
# Retention deleted the clip's file on purpose (gapfill/jobs/retention.py); its rows stay.
EXPIRE_ACTION = "expire"
CLIP_SUBJECT = "synthetic_clip"
# An engineer approved or rejected a clip (gapfill/api/review.py); the report reads turnaround here.
REVIEW_ACTION = "review"
# `gapfill keys rotate` replaced the signing certificate (subject: the new one's SHA-256).
ROTATE_KEY_ACTION = "rotate_key"
SIGNING_CERT_SUBJECT = "signing_certificate"
