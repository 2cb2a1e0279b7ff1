"""Block-wise resampling with a fixed delay equals one resample_poly pass."""

import numpy as np
import pytest

from deepclean.signal import resample
from deepclean_cleaner.buffers import Block
from deepclean_cleaner.resampling import BlockResampler
from deepclean_cleaner.witnesses import WitnessResampler


@pytest.mark.parametrize(
    "input_rate,output_rate",
    [(256, 4096), (1024, 4096), (2048, 4096), (4096, 16384), (16384, 4096)],
)
def test_blocks_equal_the_one_shot_resampling(input_rate, output_rate):
    """Each output block is the matching stretch of the one-shot output, ``delay`` samples behind."""
    rng = np.random.default_rng(0)
    seconds = 5
    x = rng.normal(size=input_rate * seconds)
    stage = BlockResampler(input_rate, output_rate, align=16)
    assert stage.delay % 16 == 0
    out = [
        stage.process(Block(i * input_rate, input_rate, x[i * input_rate : (i + 1) * input_rate]))
        for i in range(seconds)
    ]
    assert out[0] is None
    reference = resample(x, input_rate, output_rate)
    for i, block in enumerate(out[1:], start=1):
        assert block.stop == (i + 1) * output_rate - stage.delay
        np.testing.assert_allclose(block.data, reference[block.start : block.stop], rtol=0, atol=1e-12)


def test_a_discontiguous_block_restarts_the_stream():
    """After a hole the stage primes again instead of joining unrelated samples."""
    stage = BlockResampler(1024, 4096)
    assert stage.process(Block(0, 1024, np.ones(1024))) is None
    assert stage.process(Block(1024, 1024, np.ones(1024))) is not None
    assert stage.process(Block(4096, 1024, np.ones(1024))) is None


def test_witnesses_at_their_own_rates_come_out_aligned_on_the_stride_grid():
    """Channels at 256-2048 Hz share one delay, a multiple of 16 samples at 4096 Hz."""
    rates = {"A": 256, "B": 1024, "C": 2048}
    stage = WitnessResampler(("A", "B", "C"), 4096)
    rng = np.random.default_rng(2)
    assert stage.process(100, {c: rng.normal(size=r) for c, r in rates.items()}) is None
    block = stage.process(101, {c: rng.normal(size=r) for c, r in rates.items()})
    assert block.data.shape == (3, 4096)
    assert block.start % 16 == 0 and block.stop == 102 * 4096 - stage.delay


def test_a_witness_frame_without_a_configured_channel_is_named():
    """A missing channel raises an error naming the GPS second and the channel."""
    stage = WitnessResampler(("A", "B"), 4096)
    with pytest.raises(KeyError, match="GPS 7.*B"):
        stage.process(7, {"A": np.zeros(256)})
