"""Loaders against the real corpora in ../shared/datasets."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest

from training.corpora import CorpusError, load_cremad, load_ravdess, load_tess, subsample


def test_tess_counts_and_quirks(datasets):
    clips, summary = load_tess(datasets / "tess")
    assert len(clips) == 2798 and not summary.skipped
    by_speaker = Counter(c.speaker for c in clips)
    assert by_speaker == {"tess/OAF": 1399, "tess/YAF": 1399}
    oa = [c for c in clips if c.path.name == "OA_bite_neutral.flac"]
    assert oa and oa[0].speaker == "tess/OAF" and oa[0].emotion == "neutral"
    assert Counter(c.emotion for c in clips)["surprise"] == 400


def test_tess_folder_name_variants(datasets, tmp_path):
    # The usual download spells folders differently (OAF_Fear, YAF_pleasant_surprised).
    for src, folder in (("OAF_fear/OAF_bath_fear.flac", "OAF_Fear"),
                        ("YAF_pleasant_surprise/YAF_bath_ps.flac", "YAF_pleasant_surprised")):
        (tmp_path / folder).mkdir()
        shutil.copy(datasets / "tess" / src, tmp_path / folder)
    clips, _ = load_tess(tmp_path)
    assert sorted((c.speaker, c.emotion) for c in clips) == [("tess/OAF", "fear"), ("tess/YAF", "surprise")]


def test_ravdess_codes(datasets):
    clips, _ = load_ravdess(datasets / "ravdess")
    assert len(clips) == 1440
    assert len({c.speaker for c in clips}) == 24
    clip = next(c for c in clips if c.path.stem == "03-01-05-02-01-01-07")
    assert (clip.emotion, clip.speaker, clip.sex) == ("angry", "ravdess/07", "male")
    assert Counter(c.emotion for c in clips)["neutral"] == 96


def test_cremad_with_csvs_skips_silence(datasets):
    clips, summary = load_cremad(datasets / "cremad")
    assert len(clips) == 1091 and summary.skipped["digital silence"] == 1
    assert not any(c.path.stem == "1076_MTI_SAD_XX" for c in clips)
    first = next(c for c in clips if c.speaker == "cremad/1001")
    assert (first.sex, first.age) == ("male", 51)
    assert sum(c.voice_vote is not None for c in clips) > 900


def test_cremad_without_csvs_and_full_corpus_names(datasets, tmp_path):
    audio = tmp_path / "AudioWAV"
    audio.mkdir()
    source = sorted((datasets / "cremad" / "AudioWAV").glob("1001_*"))[:3]
    for path in source:
        shutil.copy(path, audio)
    # full-corpus naming: the same pattern with other levels (LO/MD/HI/XX) and .wav allowed
    shutil.copy(source[0], audio / "1001_TIE_ANG_HI.flac")
    clips, _ = load_cremad(tmp_path)
    assert len(clips) == 4
    assert all(c.sex is None and c.voice_vote is None for c in clips)


def test_empty_directory_is_a_clear_error(tmp_path):
    for loader in (load_tess, load_ravdess, load_cremad):
        with pytest.raises(CorpusError, match="no .* clips found"):
            loader(tmp_path)
    with pytest.raises(CorpusError, match="not a directory"):
        load_tess(tmp_path / "absent")


def test_subsample_keeps_every_speaker_and_emotion(datasets):
    clips, _ = load_ravdess(datasets / "ravdess")
    few = subsample(clips, 1)
    assert len(few) == 24 * 8
