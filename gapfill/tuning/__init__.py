"""Per-camera fine-tuning: a camera's own good footage from the catalog trains a child of its model.

This package sits above both the catalog and the model (the model package knows nothing of the
database): `footage` turns catalogued recordings into training shots, `finetune` trains and
registers the child model.
"""
