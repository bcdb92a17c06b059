"""The data contract: one source of truth for rates, frame sizes and schema version.

Every module that needs a sample rate, a frame length or a feature key imports it from here.
"""

#: Sample rate of every waveform stored in TFRecords and fed to the models (the paper's 22.05 kHz).
SAMPLE_RATE_HZ = 22_050

#: Rate of the label grid (AVEC/SEWA annotate at 10 Hz).
FRAME_RATE_HZ = 10

#: One label frame of audio: 0.1 s at 22.05 kHz.
FRAME_LENGTH_SAMPLES = SAMPLE_RATE_HZ // FRAME_RATE_HZ

#: Duration of one frame in seconds.
FRAME_DURATION_S = 1.0 / FRAME_RATE_HZ

#: Largest sample magnitude a served waveform and `emorec predict` accept: 20 dB above float
#: PCM's full scale [-1, 1]. Float files with headroom (a hot mix at +10 dB) are still predicted
#: (`emorec predict` clips them to [-1, 1]); integer PCM passed unscaled (int16 codes up to 32768)
#: or garbage such as 1e30 is refused, not turned into saturated, plausible-looking predictions.
MAX_ABS_SAMPLE = 10.0

#: The model's input keys: framed audio `[batch, frames, FRAME_LENGTH_SAMPLES]` and, for models
#: with a semantic branch, the semantic frame features `[batch, frames, dim]`. The pipeline, the
#: models, evaluation and the export all name the inputs with these.
AUDIO_INPUT = "audio"
SEMANTIC_INPUT = "semantic"

#: Bump whenever the TFRecord schema changes in a way readers must know about.
SCHEMA_VERSION = 1

#: The file every converted folder carries next to its shards.
MANIFEST_FILENAME = "manifest.json"

#: Partitions a converter may write, in the order reports list them.
PARTITIONS = ("train", "devel", "test")

#: SEWA / AVEC 2017 affect dimensions, in label-file column order.
SEWA_DIMENSIONS = ("arousal", "valence", "liking")

#: The version in this source tree; `installed_version()` prefers what the installed distribution says.
PACKAGE_VERSION = "0.1.0"


def installed_version() -> str:
    """The installed distribution's version (what a wheel says); `PACKAGE_VERSION` in a checkout that
    is on the path but not installed. Written into exported and evaluation files to say what made them;
    here, at the bottom of the layers, so that evaluation and export name the same version."""
    from importlib import metadata

    try:
        return metadata.version("emorec")
    except metadata.PackageNotFoundError:
        return PACKAGE_VERSION
