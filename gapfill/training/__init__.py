"""Training MALT: the data (clips, photos, synthetic scenes, a camera's catalogued footage), the
curriculum and the trainer, publishing the shipped checkpoint, and per-camera fine-tuning.

Fine-tuning (finetune, with finetune_footage and finetune_validation) trains a child of a
camera's model on that camera's own good footage and registers it (gapfill.checkpoint_registry).
"""
