"""MALT, the network: read it top to bottom.

config (sizes) -> layers (attention, adaLN-Zero blocks) -> autoencoder, memory, denoiser (with
inputs.py, what the denoiser reads) -> malt (the four calls and their exportable graphs) ->
diffusion (training's noise) and sampler (DDIM) -> checkpoint (safetensors on disk). default/
is the shipped checkpoint. Nothing here knows about gaps, files or the catalog.
"""
