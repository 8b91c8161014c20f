"""Loaders for TESS, RAVDESS and CREMA-D in their original layouts (.wav or .flac).

Each loader takes the corpus directory and returns :class:`Clip` items; a
directory without any recognisable file is a :class:`CorpusError`.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livesense.audio import read_audio

SIX_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad")
RAVDESS_CLASSES = ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise")
LICENSES = {
    "tess": "CC BY-NC-ND 4.0",
    "ravdess": "CC BY-NC-SA 4.0",
    "cremad": "ODbL 1.0 / DbCL 1.0",
}
_AUDIO = {".wav", ".flac"}


class CorpusError(Exception):
    """A corpus directory that is missing or holds no recognisable clips."""


@dataclass(frozen=True)
class Clip:
    """One labelled recording. ``speaker`` is unique across corpora (e.g. ``tess/OAF``)."""

    corpus: str
    speaker: str
    emotion: str
    path: Path
    sex: str | None = None
    age: int | None = None
    voice_vote: str | None = None  # CREMA-D listeners' audio-only majority, if one emotion


@dataclass
class LoadSummary:
    corpus: str
    clips: int = 0
    skipped: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        extra = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        return f"{self.corpus}: {self.clips} clips" + (f" (skipped: {extra})" if extra else "")


def _audio_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in _AUDIO and p.is_file())


def _require(clips: list[Clip], root: Path, corpus: str) -> list[Clip]:
    if not clips:
        raise CorpusError(f"{root}: no {corpus} clips found (expected its original file layout)")
    return clips


_TESS_EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
                  "neutral": "neutral", "sad": "sad", "ps": "surprise"}


def load_tess(root: str | Path) -> tuple[list[Clip], LoadSummary]:
    """TESS: ``<SPEAKER>_<emotion>/<SPEAKER>_<word>_<emotion>.wav|flac``.

    The speaker comes from the folder (``OAF_Fear``, ``YAF_pleasant_surprised``
    and other spellings) or, failing that, the file prefix (``OA_`` means OAF).
    """
    root = Path(root)
    summary, clips = LoadSummary("tess"), []
    for path in _audio_files(root):
        emotion = _TESS_EMOTIONS.get(path.stem.rsplit("_", 1)[-1].lower())
        speaker = path.parent.name.split("_")[0].upper()
        if speaker not in ("OAF", "YAF"):
            speaker = {"OA": "OAF", "OAF": "OAF", "YAF": "YAF"}.get(path.stem.split("_")[0].upper())
        if emotion is None or speaker is None:
            summary.skipped["unrecognised names"] += 1
            continue
        clips.append(Clip("tess", f"tess/{speaker}", emotion, path, sex="female", age=64 if speaker == "OAF" else 26))
    summary.clips = len(clips)
    return _require(clips, root, "TESS"), summary


_RAVDESS_NAME = re.compile(r"^03-01-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")


def load_ravdess(root: str | Path) -> tuple[list[Clip], LoadSummary]:
    """RAVDESS speech: ``Actor_NN/03-01-EE-II-SS-RR-AA.wav|flac`` (odd actors male)."""
    root = Path(root)
    summary, clips = LoadSummary("ravdess"), []
    for path in _audio_files(root):
        match = _RAVDESS_NAME.match(path.stem)
        if not match:
            summary.skipped["not audio-only speech"] += 1
            continue
        actor = int(match.group(5))
        emotion = RAVDESS_CLASSES[int(match.group(1)) - 1]
        sex = "male" if actor % 2 else "female"
        clips.append(Clip("ravdess", f"ravdess/{actor:02d}", emotion, path, sex=sex))
    summary.clips = len(clips)
    return _require(clips, root, "RAVDESS"), summary


_CREMAD_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
_VOTE_EMOTIONS = {"A": "angry", "D": "disgust", "F": "fear", "H": "happy", "N": "neutral", "S": "sad"}
_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_cremad(root: str | Path, skip_silent: bool = True) -> tuple[list[Clip], LoadSummary]:
    """CREMA-D: ``AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav|flac``, full corpus or a subset.

    ``VideoDemographics.csv`` (sex, age) and ``processedResults/summaryTable.csv``
    (listeners' ``VoiceVote``) are used where present. Clips of digital silence
    are skipped and counted in the summary.
    """
    root = Path(root)
    audio_dir = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    demographics = {row["ActorID"]: row for row in _read_csv(root / "VideoDemographics.csv")}
    votes = {row["FileName"]: row["VoiceVote"] for row in _read_csv(root / "processedResults" / "summaryTable.csv")}
    summary, clips = LoadSummary("cremad"), []
    for path in _audio_files(audio_dir):
        match = _CREMAD_NAME.match(path.stem)
        if not match or match.group(3) not in _CREMAD_EMOTIONS:
            summary.skipped["unrecognised names"] += 1
            continue
        if skip_silent and not np.any(read_audio(path)):
            summary.skipped["digital silence"] += 1
            continue
        actor = match.group(1)
        person = demographics.get(actor, {})
        clips.append(Clip(
            "cremad", f"cremad/{actor}", _CREMAD_EMOTIONS[match.group(3)], path,
            sex=person.get("Sex", "").lower() or None,
            age=int(person["Age"]) if person.get("Age") else None,
            voice_vote=_VOTE_EMOTIONS.get(votes.get(path.stem, "")),
        ))
    summary.clips = len(clips)
    return _require(clips, root, "CREMA-D"), summary


LOADERS = {"tess": load_tess, "ravdess": load_ravdess, "cremad": load_cremad}


def load_corpora(data_dir: str | Path, corpora: list[str]) -> tuple[list[Clip], list[LoadSummary]]:
    """Load ``corpora`` (names in :data:`LOADERS`) from ``data_dir/<name>/``."""
    clips, summaries = [], []
    for name in corpora:
        if name not in LOADERS:
            raise CorpusError(f"unknown corpus {name!r}; choose from {', '.join(LOADERS)}")
        found, summary = LOADERS[name](Path(data_dir) / name)
        clips += found
        summaries.append(summary)
    return clips, summaries


def subsample(clips: list[Clip], per_speaker_emotion: int, speakers_per_corpus: int | None = None) -> list[Clip]:
    """The first ``per_speaker_emotion`` clips of every (speaker, emotion) pair of the
    first ``speakers_per_corpus`` speakers of each corpus (all if None), for smoke runs."""
    speakers: dict[str, list[str]] = {}
    for clip in clips:
        known = speakers.setdefault(clip.corpus, [])
        if clip.speaker not in known:
            known.append(clip.speaker)
    allowed = {s for group in speakers.values() for s in group[:speakers_per_corpus]}
    taken: Counter = Counter()
    kept = []
    for clip in clips:
        if clip.speaker in allowed and taken[(clip.speaker, clip.emotion)] < per_speaker_emotion:
            taken[(clip.speaker, clip.emotion)] += 1
            kept.append(clip)
    return kept
