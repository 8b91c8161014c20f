"""Offline proxy, step 1 of 2: one GE2E embedding (resemblyzer's VoiceEncoder) per clip.

    .venv/bin/python -c "..."  # writes runs/ge2e/paths.txt (see ge2e_fusion.py)
    PYTHONPATH=. runs/ge2e-venv/bin/python models/reports/experiments/proxies/ge2e_embed.py runs/ge2e

Runs in a separate venv with torch 2.13.0 (CPU) and resemblyzer: torch never
enters livesense's own environments. Each clip is decoded as livesense does
(16 kHz mono), its silences trimmed by resemblyzer's VAD and its level set to
-30 dBFS RMS in both directions (resemblyzer only raises), so the embedding
does not see the recording's gain; then ``embed_utterance`` (1.6 s partials,
averaged, L2-normalised). Writes embeddings.npy (clips x 256) in paths.txt's order.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch
from resemblyzer import VoiceEncoder, trim_long_silences
from resemblyzer.audio import normalize_volume

from livesense.audio import read_audio

out = Path(sys.argv[1])
torch.set_num_threads(2)
paths = (out / "paths.txt").read_text().splitlines()
encoder = VoiceEncoder("cpu", verbose=False)
embeddings = np.zeros((len(paths), 256), np.float32)
started = time.time()
for i, path in enumerate(paths):
    wav = read_audio(Path(path), 16000).astype(np.float64)
    trimmed = trim_long_silences(wav)
    wav = trimmed if len(trimmed) >= 16000 * 0.5 else wav  # keep very short clips whole
    wav = normalize_volume(wav, -30, increase_only=False)
    embeddings[i] = encoder.embed_utterance(wav.astype(np.float32))
    if i % 500 == 0:
        print(f"{i}/{len(paths)} {time.time() - started:.0f} s", flush=True)
np.save(out / "embeddings.npy", embeddings)
print(f"done: {len(paths)} clips in {time.time() - started:.0f} s")
