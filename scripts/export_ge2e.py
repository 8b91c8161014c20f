"""Convert resemblyzer's GE2E voice encoder to ONNX, once; the result ships in livesense/models/voice.

    python -m venv /tmp/ge2e && /tmp/ge2e/bin/pip install torch==2.13.0 resemblyzer==0.1.4 onnx onnxruntime "setuptools<81"
    PYTHONPATH=. /tmp/ge2e/bin/python scripts/export_ge2e.py models/voice/ge2e.onnx

torch and resemblyzer are needed here only: livesense runs the ONNX file with onnxruntime.
The framing and the encoder's level come from :mod:`livesense.voice`, which needs only NumPy.
The weights are resemblyzer 0.1.4's ``pretrained.pt`` (Apache-2.0, Resemble AI; its
licence is copied beside the ONNX file as LICENSE). The graph takes what the runtime can cut
without any DSP library and does the rest itself, so the encoder's front end has one
definition:

    input  ``frames``    float32 (batch, n_frames, 400): 25 ms of 16 kHz audio every 10 ms,
                         centred, zero-padded at the ends (:func:`livesense.encoder.audio_frames`)
    output ``embedding`` float32 (batch, 256), L2-normalised, non-negative
    output ``states``    float32 (batch, 512): the top LSTM layer's output, its mean
                         and its standard deviation over the frames (256 each)

inside: periodic Hann window, |DFT|^2 (201 bins), 40 Slaney mel bands (librosa's
``melspectrogram`` as resemblyzer computes it), the 3-layer LSTM (256 units), its last
hidden state through the linear layer, ReLU and L2 normalisation. The embedding is
trained to tell speakers apart; the states it is made from keep more of how a voice
moves, which a voice head reads emotion from too (models/reports/recipe-experiments.md,
session 14); they cost nothing more. The script checks the ONNX embedding against
resemblyzer's own on real speech, and the states against the LSTM's, before writing.
"""
import shutil
import sys
from pathlib import Path

import librosa
import numpy as np
import onnxruntime as ort
import resemblyzer
import torch
from resemblyzer import VoiceEncoder
from resemblyzer.audio import wav_to_mel_spectrogram

from livesense.voice import ENCODER_LEVEL_DBFS, FRAME_SAMPLES, audio_frames

RATE, N_MELS = 16000, 40


class FramesToEmbedding(torch.nn.Module):
    def __init__(self, encoder: VoiceEncoder):
        super().__init__()
        n = np.arange(FRAME_SAMPLES)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME_SAMPLES)  # periodic Hann, as librosa's stft
        angle = 2 * np.pi * np.outer(n, np.arange(FRAME_SAMPLES // 2 + 1)) / FRAME_SAMPLES
        self.register_buffer("cos", torch.tensor(window[:, None] * np.cos(angle), dtype=torch.float32))
        self.register_buffer("sin", torch.tensor(window[:, None] * np.sin(angle), dtype=torch.float32))
        mel = librosa.filters.mel(sr=RATE, n_fft=FRAME_SAMPLES, n_mels=N_MELS)  # (40, 201)
        self.register_buffer("mel", torch.tensor(mel.T, dtype=torch.float32))
        self.lstm, self.linear = encoder.lstm, encoder.linear

    def forward(self, frames):
        power = (frames @ self.cos) ** 2 + (frames @ self.sin) ** 2
        top, (hidden, _) = self.lstm(power @ self.mel)
        raw = torch.relu(self.linear(hidden[-1]))
        mean = top.mean(dim=1)
        deviation = (top - mean[:, None]).square().mean(dim=1).sqrt()
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12), torch.cat([mean, deviation], 1)


def main(out: Path) -> None:
    encoder = VoiceEncoder("cpu", verbose=False).eval()
    model = FramesToEmbedding(encoder).eval()
    example = torch.zeros(2, 160, FRAME_SAMPLES)
    torch.onnx.export(model, (example,), str(out), input_names=["frames"], output_names=["embedding", "states"],
                      dynamic_axes={"frames": {0: "batch", 1: "n_frames"}, "embedding": {0: "batch"},
                                    "states": {0: "batch"}},
                      opset_version=17, dynamo=False)
    # Check on real speech at resemblyzer's level (-30 dBFS): a bundled sample.
    import soundfile as sf
    speech, rate = sf.read(Path(__file__).parents[1] / "samples" / "demo.flac", dtype="float32")
    assert rate == RATE, rate
    speech = speech[: 2 * RATE]
    speech = speech * 10 ** (ENCODER_LEVEL_DBFS / 20) / np.sqrt(np.mean(speech ** 2))
    mel = torch.tensor(wav_to_mel_spectrogram(speech)[None])
    with torch.no_grad():
        reference = encoder(mel).numpy()
        top = encoder.lstm(mel)[0][0].numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ours, states = session.run(None, {"frames": audio_frames(speech)[None].astype(np.float32)})
    difference = float(np.abs(ours - reference).max())
    print(f"max |onnx - resemblyzer| = {difference:.2e}, cosine {float((ours * reference).sum()):.6f}")
    assert difference < 1e-3, difference
    expected = np.concatenate([top.mean(0), top.std(0)])
    state_difference = float(np.abs(states[0] - expected).max())
    print(f"max |states - LSTM's own, mean and deviation| = {state_difference:.2e}")
    assert state_difference < 1e-3, state_difference
    shutil.copy(Path(resemblyzer.__file__).parents[1] / "Resemblyzer-0.1.4.dist-info" / "LICENSE",
                out.with_name("LICENSE"))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and its licence")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
