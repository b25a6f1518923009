"""Every query gapfill runs against its catalog, one module per aggregate.

Named functions that take a Session (or a Catalog) and plain filters and return ORM rows, plain
tuples or small dataclasses; the rest of the package calls these and never builds a statement
(tests/test_layering.py checks). Writes through the ORM (session.add, changing a row's attributes)
stay with the code that decides them; the statements that write in bulk or under a condition
(the repair queue's claims, a review's compare-and-set) are here.

cameras      cameras by name, their list and statistics
recordings   recordings: listings, the scan's and the repair's windows, training footage
defects      defects: the one camera/state/kind filter, the scan's writes, the repair's windows
jobs         the repair queue's claims (FOR UPDATE SKIP LOCKED on PostgreSQL) and listings
clips        synthetic clips and spans: listings, review, retention, audit
provenance   the chain's lock, its last link, events by action and subject
users        API users and tokens
checkpoints  rows of the models table (MALT checkpoints by hash and name)
report       what `gapfill report` reads
scheduler    the daemon's liveness probe and its stored schedule
paging       counting and slicing a listing for the API
"""
