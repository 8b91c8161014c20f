"""The window grid: where analysis windows lie in a stream and which of their parts are speech.

One definition for every place that cuts audio into the windows a model sees:
the stream front end (file, listen, demo, the Python API), the training
windows, speaker statistics and the export check all reach it through
:class:`~livesense.frontend.StreamFrontEnd`.

- Windows of ``config.window_samples`` start at stream samples 0, hop, 2·hop, …
  (``config.hop_samples``); a window is analysed once all its samples are in.
- A stream shorter than one window is zero-padded at its end to one window;
  its speech share and level count the real samples only. A tail shorter than
  a hop after the last window is not analysed.
- A window's speech share is the share of the 30 ms VAD frames wholly inside
  its real audio that the VAD judged speech.
- A feature frame is "in speech" (it updates a speaker's statistics) when its
  centre lies in a VAD speech frame of the window and in its real audio.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .features import FeatureConfig


@dataclass(frozen=True)
class WindowGrid:
    """The grid of ``config``'s windows, with VAD frames of ``vad_frame`` samples."""

    config: FeatureConfig
    vad_frame: int
    # Centre of each feature frame, in samples from its window's start, shape (frames_per_window,).
    frame_centres: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        cfg = self.config
        centres = np.arange(cfg.frames_per_window) * cfg.frame_hop_samples + cfg.frame_samples // 2
        object.__setattr__(self, "frame_centres", centres)

    @property
    def window(self) -> int:
        """Samples in one window."""
        return self.config.window_samples

    @property
    def hop(self) -> int:
        """Samples from one window's start to the next one's."""
        return self.config.hop_samples

    def padding(self, n_samples: int) -> int:
        """Zeros to append to a whole stream of ``n_samples`` for it to hold one
        window: ``window - n_samples`` for a short stream, else 0 (also for an empty one)."""
        return self.window - n_samples if 0 < n_samples < self.window else 0

    def vad_frames(self, start: int, audio_end: int) -> tuple[int, int]:
        """Numbers ``first, last`` (exclusive) of the VAD frames wholly inside the
        window at stream sample ``start`` whose real audio ends at ``audio_end``."""
        return -(-start // self.vad_frame), audio_end // self.vad_frame

    @staticmethod
    def speech_share(verdicts: np.ndarray) -> float:
        """Share of speech among a window's VAD verdicts (bool, from :meth:`vad_frames`); 0 if none."""
        return np.count_nonzero(verdicts) / len(verdicts) if len(verdicts) else 0.0  # = mean(), far cheaper

    def frames_in_speech(self, verdicts: np.ndarray, start: int, audio_end: int) -> np.ndarray:
        """Which feature frames of the window lie in speech, bool (frames_per_window,).

        Args:
            verdicts: the window's VAD verdicts (frames ``vad_frames(start, audio_end)``), at least one.
            start, audio_end: the window's first stream sample and the end of its real audio.
        """
        first, _ = self.vad_frames(start, audio_end)
        centres = start + self.frame_centres
        # A centre in the window's partial first or last VAD frame takes the nearest whole one.
        index = np.minimum(np.maximum(centres // self.vad_frame, first), first + len(verdicts) - 1) - first
        return verdicts[index] & (centres < audio_end)
