"""Issue 13, row 7: the exported serving graph refuses inconsistent inputs with an
InvalidArgumentError naming the input, where it used to broadcast one length over every row,
clamp a length past the samples and give no frames for a negative one."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES


#: The LSTM units of the session's tiny export (tests/conftest.py: `exported`).
UNITS = 8


@pytest.fixture(scope="module")
def signatures(exported):
    return tf.saved_model.load(str(exported)).signatures


WAVEFORMS = np.zeros([2, 3 * FRAME_LENGTH_SAMPLES], np.float32)


@pytest.mark.parametrize("signature", ["serving_default", "serving_stream"])
@pytest.mark.parametrize("waveform, length, message", [
    (WAVEFORMS, [3 * FRAME_LENGTH_SAMPLES], "batch sizes differ"),
    (WAVEFORMS, [3 * FRAME_LENGTH_SAMPLES + 1, 10], "length must be <= the samples of waveform"),
    (WAVEFORMS, [-5, 10], "length must be > 0"),
    (WAVEFORMS, [0, 10], "length must be > 0"),
], ids=["2 waveforms 1 length", "length past samples", "negative length", "zero length"])
def test_inconsistent_inputs_are_refused_naming_the_input(signatures, signature, waveform, length, message):
    inputs = {"waveform": tf.constant(waveform), "length": tf.constant(length, tf.int32)}
    if signature == "serving_stream":
        inputs.update(lstm_state_h=tf.zeros([2, UNITS]), lstm_state_c=tf.zeros([2, UNITS]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signatures[signature](**inputs)


@pytest.mark.parametrize("shape", [[FRAME_LENGTH_SAMPLES], [1, 2, FRAME_LENGTH_SAMPLES]], ids=["rank 1", "rank 3"])
def test_waveform_of_another_rank_is_refused_naming_waveform(signatures, shape):
    # A loaded signature does not check ranks against its [None, None] spec: the graph must.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor waveform .* is not compatible with expected shape \[\?,\?\]"):
        signatures["serving_default"](waveform=tf.zeros(shape), length=tf.constant([10]))


def test_consistent_inputs_still_serve(signatures):
    result = signatures["serving_default"](waveform=tf.constant(WAVEFORMS),
                                           length=tf.constant([3 * FRAME_LENGTH_SAMPLES, 1], tf.int32))
    assert result["num_frames"].numpy().tolist() == [3, 1]


def test_stream_state_of_another_batch_size_is_refused_naming_it(signatures):
    # Two waveforms with one row of LSTM state used to broadcast (or fail inside the LSTM).
    with pytest.raises(tf.errors.InvalidArgumentError, match="lstm_state_h must hold one row per waveform row"):
        signatures["serving_stream"](waveform=tf.constant(WAVEFORMS),
                                     length=tf.constant([3 * FRAME_LENGTH_SAMPLES] * 2, tf.int32),
                                     lstm_state_h=tf.zeros([1, UNITS]), lstm_state_c=tf.zeros([2, UNITS]))
